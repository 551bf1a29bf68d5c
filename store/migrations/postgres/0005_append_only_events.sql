-- Challenge events are evidence: once written they are never changed or removed. No code path
-- updates or deletes them (a test reads the SQL to check), and the database refuses it too.
CREATE FUNCTION riskdeck_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only', TG_TABLE_NAME;
END;
$$;

CREATE TRIGGER challenge_events_append_only BEFORE UPDATE OR DELETE ON challenge_events
    FOR EACH ROW EXECUTE FUNCTION riskdeck_append_only();
CREATE TRIGGER challenge_events_no_truncate BEFORE TRUNCATE ON challenge_events
    FOR EACH STATEMENT EXECUTE FUNCTION riskdeck_append_only();

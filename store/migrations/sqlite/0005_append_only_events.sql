-- Challenge events are evidence: once written they are never changed or removed. No code path
-- updates or deletes them (a test reads the SQL to check), and the database refuses it too.
CREATE TRIGGER challenge_events_no_update BEFORE UPDATE ON challenge_events
BEGIN
    SELECT RAISE(ABORT, 'challenge_events is append-only');
END;

CREATE TRIGGER challenge_events_no_delete BEFORE DELETE ON challenge_events
BEGIN
    SELECT RAISE(ABORT, 'challenge_events is append-only');
END;

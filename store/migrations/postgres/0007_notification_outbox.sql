-- One notification per challenge event, written in the same transaction as the event and keyed
-- by its id, so it can be neither lost nor duplicated. status: pending (due at
-- next_attempt_at_ms; a claim pushes that forward by a lease), delivered, or failed (given up).
CREATE TABLE notification_outbox (
    event_id           BIGINT PRIMARY KEY NOT NULL REFERENCES challenge_events (id),
    account_id         TEXT   NOT NULL,
    created_at_ms      BIGINT NOT NULL,
    status             TEXT   NOT NULL,
    attempts           BIGINT NOT NULL,
    next_attempt_at_ms BIGINT NOT NULL,
    last_error         TEXT,
    delivered_at_ms    BIGINT
);
CREATE INDEX notification_outbox_due ON notification_outbox (status, next_attempt_at_ms);

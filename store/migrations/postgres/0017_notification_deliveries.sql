-- Notifications per channel and recipient. The outbox (0007) holds one row per event; the
-- notifier fans each out into one delivery per (event, channel, recipient), keyed so that a
-- fan-out repeated after a crash adds nothing, and each delivery is sent on its own schedule:
-- status pending (due at next_attempt_at_ms; a claim pushes that forward by a lease), delivered,
-- or failed (given up after the last attempt, its error kept).
CREATE TABLE notification_deliveries (
    event_id           BIGINT  NOT NULL REFERENCES challenge_events (id),
    channel            TEXT    NOT NULL,
    recipient          TEXT    NOT NULL,
    account_id         TEXT    NOT NULL,
    created_at_ms      BIGINT  NOT NULL,
    status             TEXT    NOT NULL,
    attempts           BIGINT  NOT NULL,
    next_attempt_at_ms BIGINT  NOT NULL,
    last_error         TEXT,
    delivered_at_ms    BIGINT,
    PRIMARY KEY (event_id, channel, recipient)
);
CREATE INDEX notification_deliveries_due ON notification_deliveries (status, next_attempt_at_ms);

-- What each person wants to hear about and where (JSON, see backend::notify::Preferences).
CREATE TABLE notification_preferences (
    user_id       BIGINT  PRIMARY KEY NOT NULL REFERENCES users (id),
    body          TEXT    NOT NULL,
    updated_at_ms BIGINT  NOT NULL
);

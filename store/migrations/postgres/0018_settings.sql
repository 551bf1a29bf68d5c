-- Settings this deployment keeps across restarts, by name: what must not change when the
-- server restarts on the same database (e.g. `demo_world`: when the demo broker's simulated
-- world and its scripts began, so a restarted demo continues its world instead of starting
-- it again). The first value written stays.
CREATE TABLE settings (
    name  TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
);

-- A program's lifecycle (issue 24): a passed phase's way to the next, one row per (account,
-- phase) so a pass is promoted once whatever restarts or instances; and the finished phases of
-- a journey whose next phase started on the same account (the engine state as it ended).
CREATE TABLE promotions (
    account_id     TEXT NOT NULL,
    phase          INTEGER NOT NULL,
    next_phase     INTEGER NOT NULL,
    program_id     TEXT NOT NULL,
    version        INTEGER NOT NULL,
    journey        TEXT NOT NULL,
    passed_at_ms   INTEGER NOT NULL,
    same_account   BOOLEAN NOT NULL,
    approval       BOOLEAN NOT NULL,
    status         TEXT NOT NULL,
    next_account   TEXT,
    decided_by     TEXT,
    decided_at_ms  INTEGER,
    PRIMARY KEY (account_id, phase)
);

CREATE TABLE phase_records (
    account_id     TEXT NOT NULL,
    phase          INTEGER NOT NULL,
    journey        TEXT NOT NULL,
    program_id     TEXT NOT NULL,
    version        INTEGER NOT NULL,
    status         TEXT NOT NULL,
    started_at_ms  INTEGER,
    ended_at_ms    INTEGER NOT NULL,
    state_json     TEXT NOT NULL,
    PRIMARY KEY (account_id, phase)
);

CREATE INDEX phase_records_journey ON phase_records (journey);

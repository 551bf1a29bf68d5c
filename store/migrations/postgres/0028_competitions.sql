-- Competitions (issue 25): many accounts on the same rules over the same window, ranked live.
-- A competition's definition is JSON (shared::competitions::CompetitionDraft) with its window in
-- UTC beside it; `started` and `final_json` are set once each (compare-and-swap), so the start
-- is carried out and the standings frozen once whatever restarts or instances.
CREATE TABLE competitions (
    id             TEXT PRIMARY KEY,
    definition     TEXT NOT NULL,
    start_ms       BIGINT NOT NULL,
    end_ms         BIGINT NOT NULL,
    public_slug    TEXT UNIQUE,
    next_entry     BIGINT NOT NULL DEFAULT 1,
    started        BOOLEAN NOT NULL DEFAULT FALSE,
    final_json     TEXT,
    final_at_ms    BIGINT,
    created_by     TEXT NOT NULL,
    created_at_ms  BIGINT NOT NULL,
    updated_by     TEXT NOT NULL,
    updated_at_ms  BIGINT NOT NULL
);

-- The entrants: entry numbers in entry order, never reused (next_entry only grows); the
-- equity and closed trades at the start (set once) and the disqualification with the equity
-- its numbers froze at (set once).
CREATE TABLE competition_entries (
    competition_id   TEXT NOT NULL,
    entry            BIGINT NOT NULL,
    account_id       TEXT NOT NULL,
    entered_at_ms    BIGINT NOT NULL,
    baseline_equity  TEXT,
    baseline_trades  BIGINT,
    baseline_at_ms   BIGINT,
    dq_rule          TEXT,
    dq_label         TEXT,
    dq_at_ms         BIGINT,
    dq_evidence      TEXT,
    dq_equity        TEXT,
    dq_trades        BIGINT,
    PRIMARY KEY (competition_id, entry),
    UNIQUE (competition_id, account_id)
);

CREATE INDEX competition_entries_account ON competition_entries (account_id);

-- The ranks at the end of each day in the competition's time zone (entry -> rank as JSON).
CREATE TABLE competition_day_ranks (
    competition_id TEXT NOT NULL,
    day            TEXT NOT NULL,
    ranks_json     TEXT NOT NULL,
    PRIMARY KEY (competition_id, day)
);

-- The name leaderboards show for a trader (NULL: `Entrant N`).
ALTER TABLE users ADD COLUMN display_name TEXT;

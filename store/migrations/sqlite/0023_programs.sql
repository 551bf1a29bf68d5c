-- The firm's programs (issue 24): what it sells ("2-Step 100k": Phase 1, Phase 2, Funded) as
-- data. A program's definition is JSON (shared::programs::ProgramDraft), one row per version;
-- versions never change. How a version reached challenges (new ones only, or the running ones
-- from an instant) is JSON too (shared::api::ProgramApply).
CREATE TABLE programs (
    id             TEXT PRIMARY KEY,
    template       TEXT,
    created_by     TEXT NOT NULL,
    created_at_ms  INTEGER NOT NULL
);

CREATE TABLE program_versions (
    program_id     TEXT NOT NULL REFERENCES programs (id),
    version        INTEGER NOT NULL,
    definition     TEXT NOT NULL,
    apply_json     TEXT NOT NULL,
    applied_to     INTEGER NOT NULL,
    created_by     TEXT NOT NULL,
    created_at_ms  INTEGER NOT NULL,
    PRIMARY KEY (program_id, version)
);

-- The challenges on a program: its version and phase (0-based), and the journey (the first
-- account's id) that keeps one trader's history across the program's phases.
CREATE TABLE program_enrollments (
    account_id      TEXT PRIMARY KEY,
    program_id      TEXT NOT NULL REFERENCES programs (id),
    version         INTEGER NOT NULL,
    phase           INTEGER NOT NULL,
    journey         TEXT NOT NULL,
    enrolled_at_ms  INTEGER NOT NULL
);

CREATE INDEX program_enrollments_program ON program_enrollments (program_id, phase);

CREATE TRIGGER program_versions_no_update BEFORE UPDATE ON program_versions
BEGIN
    SELECT RAISE(ABORT, 'program_versions is append-only');
END;

CREATE TRIGGER program_versions_no_delete BEFORE DELETE ON program_versions
BEGIN
    SELECT RAISE(ABORT, 'program_versions is append-only');
END;

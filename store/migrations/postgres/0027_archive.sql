-- Archived challenges (issue 24): kept read-only and exported, no longer tracked. Set once.
ALTER TABLE accounts ADD COLUMN archived_at_ms BIGINT;
ALTER TABLE accounts ADD COLUMN archived_by TEXT;
ALTER TABLE accounts ADD COLUMN archive_reason TEXT;

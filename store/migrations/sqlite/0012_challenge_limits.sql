-- A challenge's limit levels over time, so the equity chart can draw each limit as it stood at
-- every moment: one row each time a loss rule's equity floor or the profit target's level
-- changes (a daily reset, a new peak under a trailing rule, a deposit), as exact decimal text.
-- Chart data, written by the account's tracker; the evidence of a breach is in the events.
CREATE TABLE challenge_limits (
    account_id TEXT   NOT NULL,
    rule       TEXT   NOT NULL,
    t_ms       BIGINT NOT NULL,
    kind       TEXT   NOT NULL,
    level      TEXT   NOT NULL,
    PRIMARY KEY (account_id, rule, t_ms)
);

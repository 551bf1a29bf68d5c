-- Every deal a challenge's engine was fed (polled, pushed or read from the history at
-- onboarding), once per account and broker deal id, stored in the transaction that saves the
-- engine state that counted it. The whole deal is kept as JSON (money as exact decimal text);
-- the columns beside it serve the trade history: closing trades newest first, paged by
-- (time, deal id), each with the deal that opened its position.
CREATE TABLE deals (
    account_id  TEXT    NOT NULL,
    deal_id     TEXT    NOT NULL,
    t_ms        BIGINT  NOT NULL,
    position_id TEXT,
    opening     BOOLEAN NOT NULL,
    closing     BOOLEAN NOT NULL,
    body        TEXT    NOT NULL,
    PRIMARY KEY (account_id, deal_id)
);
CREATE INDEX deals_closing ON deals (account_id, closing, t_ms, deal_id);
CREATE INDEX deals_position ON deals (account_id, position_id, opening);

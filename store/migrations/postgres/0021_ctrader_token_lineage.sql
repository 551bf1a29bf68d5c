-- One cTrader OAuth pair opens every trading account of its cTrader ID, and a refresh spends
-- the refresh token for all of them: the connections that hold one pair are found by its
-- lineage, a SHA-256 of the refresh token the pair was first stored with (not a secret: it
-- cannot be turned back into the token), kept across refreshes. A refresh stores the new pair
-- on every connection of its lineage that does not hold a later one. NULL: no refresh token.
ALTER TABLE broker_connections ADD COLUMN token_lineage TEXT;
CREATE INDEX broker_connections_token_lineage ON broker_connections (token_lineage);

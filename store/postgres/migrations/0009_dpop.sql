-- DPoP (RFC 9449, issue 21): a public client's refresh tokens are bound
-- to the key of the proof they were issued with; "" is unbound.
ALTER TABLE refresh_tokens ADD COLUMN dpop_jkt TEXT NOT NULL DEFAULT '';

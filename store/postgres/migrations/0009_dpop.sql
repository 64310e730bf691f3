-- DPoP (RFC 9449, issue 21): a public client's refresh tokens are bound
-- to the key of the proof they were issued with ("" is unbound), and an
-- app may require proofs (apps[].dpop: required).
ALTER TABLE refresh_tokens ADD COLUMN dpop_jkt TEXT NOT NULL DEFAULT '';
ALTER TABLE apps ADD COLUMN dpop_required BOOLEAN NOT NULL DEFAULT false;

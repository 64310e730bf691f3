-- Issue 20: second factors. A user's TOTP secret (stored as is: the
-- server computes codes from it, see store.TOTPFactor), pending until
-- the first code confirms it, with the last time step accepted (a code
-- is accepted once, RFC 6238 §5.2). Recovery codes are kept by their
-- SHA-256 only, in batches: a new batch replaces the old one by moving
-- recovery_batches' pointer, in one statement. How a sign-in
-- authenticated gains its acr (store.Authentication.ACR) wherever the
-- rest of it is stored; apps and users gain the MFA policy.
CREATE TABLE totp_factors (
	login        TEXT    NOT NULL PRIMARY KEY,
	secret       TEXT    NOT NULL,
	created_at   INTEGER NOT NULL,
	confirmed_at INTEGER,
	last_step    INTEGER NOT NULL DEFAULT 0
) STRICT;
CREATE TABLE recovery_batches (
	login      TEXT    NOT NULL PRIMARY KEY,
	batch      TEXT    NOT NULL,
	created_at INTEGER NOT NULL
) STRICT;
CREATE TABLE recovery_codes (
	login TEXT NOT NULL,
	batch TEXT NOT NULL,
	hash  TEXT NOT NULL,
	PRIMARY KEY (login, batch, hash)
) STRICT;
ALTER TABLE identity_sessions ADD COLUMN auth_acr TEXT NOT NULL DEFAULT '';
ALTER TABLE auth_codes ADD COLUMN auth_acr TEXT NOT NULL DEFAULT '';
ALTER TABLE refresh_tokens ADD COLUMN auth_acr TEXT NOT NULL DEFAULT '';
ALTER TABLE apps ADD COLUMN mfa_required INTEGER NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN mfa_required INTEGER NOT NULL DEFAULT 0;

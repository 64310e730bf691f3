-- Issue 20: second factors. A user's TOTP secret (stored as is: the
-- server computes codes from it, see store.TOTPFactor), pending until
-- the first code confirms it, with the last time step accepted (a code
-- is accepted once, RFC 6238 §5.2; replicas race on one conditional
-- UPDATE). Recovery codes are kept by their SHA-256 only, in batches: a
-- new batch replaces the old one by moving recovery_batches' pointer, in
-- one statement. How a sign-in authenticated gains its acr
-- (store.Authentication.ACR) wherever the rest of it is stored; apps and
-- users gain the MFA policy.
CREATE TABLE totp_factors (
	login        text COLLATE "C" NOT NULL PRIMARY KEY,
	secret       text             NOT NULL,
	created_at   timestamptz      NOT NULL,
	confirmed_at timestamptz,
	last_step    bigint           NOT NULL DEFAULT 0
);
CREATE TABLE recovery_batches (
	login      text COLLATE "C" NOT NULL PRIMARY KEY,
	batch      text COLLATE "C" NOT NULL,
	created_at timestamptz      NOT NULL
);
CREATE TABLE recovery_codes (
	login text COLLATE "C" NOT NULL,
	batch text COLLATE "C" NOT NULL,
	hash  text COLLATE "C" NOT NULL,
	PRIMARY KEY (login, batch, hash)
);
ALTER TABLE identity_sessions ADD COLUMN auth_acr text NOT NULL DEFAULT '';
ALTER TABLE auth_codes ADD COLUMN auth_acr text NOT NULL DEFAULT '';
ALTER TABLE refresh_tokens ADD COLUMN auth_acr text NOT NULL DEFAULT '';
ALTER TABLE apps ADD COLUMN mfa_required boolean NOT NULL DEFAULT false;
ALTER TABLE users ADD COLUMN mfa_required boolean NOT NULL DEFAULT false;

-- Grants of the interactive flows (store.Grants), and what replicas poll
-- to learn of revocations and ended sessions (store.Revocations
-- RevokedSince, store.Sessions EndedSessionsSince).
--
-- Times are INTEGER unix milliseconds (UTC); NULL means "none". Scopes
-- are a JSON array of strings, so any value round-trips.

CREATE TABLE auth_codes (
	hash              TEXT    PRIMARY KEY,
	client_id         TEXT    NOT NULL,
	subject           TEXT    NOT NULL,
	redirect_uri      TEXT    NOT NULL,
	scopes            TEXT    NOT NULL,
	nonce             TEXT    NOT NULL,
	code_challenge    TEXT    NOT NULL,
	session_id        TEXT    NOT NULL,
	auth_time         INTEGER,
	created_at        INTEGER NOT NULL,
	expires_at        INTEGER NOT NULL,
	used_at           INTEGER,
	access_token_id   TEXT    NOT NULL DEFAULT '',
	access_expires_at INTEGER
) STRICT;

CREATE INDEX auth_codes_expires_at ON auth_codes (expires_at);

CREATE TABLE refresh_tokens (
	hash              TEXT    PRIMARY KEY,
	family_id         TEXT    NOT NULL,
	client_id         TEXT    NOT NULL,
	subject           TEXT    NOT NULL,
	session_id        TEXT    NOT NULL,
	scopes            TEXT    NOT NULL,
	auth_time         INTEGER,
	created_at        INTEGER NOT NULL,
	expires_at        INTEGER NOT NULL,
	access_token_id   TEXT    NOT NULL,
	access_expires_at INTEGER,
	rotated_at        INTEGER,
	successor         BLOB    NOT NULL DEFAULT x'',
	revoked_at        INTEGER
) STRICT;

-- The three ways a family is revoked, and the sweep.
CREATE INDEX refresh_tokens_family_id  ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_session_id ON refresh_tokens (session_id);
CREATE INDEX refresh_tokens_subject    ON refresh_tokens (subject);
CREATE INDEX refresh_tokens_expires_at ON refresh_tokens (expires_at);

CREATE TABLE identity_sessions (
	id          TEXT    PRIMARY KEY,
	subject     TEXT    NOT NULL,
	secret_hash TEXT    NOT NULL,
	auth_time   INTEGER,
	created_at  INTEGER NOT NULL,
	expires_at  INTEGER NOT NULL,
	ended_at    INTEGER
) STRICT;

-- Revocations recorded before this migration get revoked_at 0 (1970):
-- a process loading the whole list (since the zero time) still sees them.
ALTER TABLE revocations ADD COLUMN revoked_at INTEGER NOT NULL DEFAULT 0;

CREATE INDEX revocations_revoked_at ON revocations (revoked_at);

-- Ended sessions only, for EndedSessionsSince.
CREATE INDEX sessions_ended_at ON sessions (ended_at) WHERE ended_at IS NOT NULL;

-- The whole store.Backend schema, mirroring store/sqlite's migrations.
--
-- Times are timestamptz holding instants truncated to the millisecond
-- (the store truncates before it writes, so they compare exactly as
-- sqlite's unix milliseconds do); NULL means "none" (a zero time.Time),
-- so "ended_at IS NULL" is "open". Keys that lists are ordered by use
-- COLLATE "C", so "ties by ID" is byte order whatever the database's
-- collation. Scopes are text[], byte strings bytea.

CREATE TABLE signing_keys (
	id          text COLLATE "C" PRIMARY KEY,
	algorithm   text             NOT NULL,
	private_jwk bytea            NOT NULL,
	created_at  timestamptz      NOT NULL,
	retire_at   timestamptz      NOT NULL,
	expires_at  timestamptz      NOT NULL
);

CREATE TABLE sessions (
	id           text COLLATE "C" PRIMARY KEY,
	subject      text             NOT NULL,
	client_id    text             NOT NULL,
	kind         text             NOT NULL,
	reserved     boolean          NOT NULL,
	opened_at    timestamptz      NOT NULL,
	last_seen_at timestamptz      NOT NULL,
	expires_at   timestamptz,
	ended_at     timestamptz,
	end_reason   text             NOT NULL DEFAULT ''
);

-- Open sessions only: counted by every capped OpenSession, listed by
-- OpenSessions, scanned by EndStaleSessions.
CREATE INDEX sessions_open ON sessions (opened_at, id) WHERE ended_at IS NULL;

-- Ended sessions only, for EndedSessionsSince.
CREATE INDEX sessions_ended_at ON sessions (ended_at) WHERE ended_at IS NOT NULL;

-- One row, locked FOR UPDATE by every OpenSession under a license cap,
-- so counting the open sessions and inserting one is a single step for
-- every replica (see the package doc).
CREATE TABLE license_lock (
	id integer PRIMARY KEY CHECK (id = 1)
);

INSERT INTO license_lock (id) VALUES (1);

CREATE TABLE revocations (
	jti        text COLLATE "C" PRIMARY KEY,
	expires_at timestamptz      NOT NULL,
	revoked_at timestamptz      NOT NULL
);

CREATE INDEX revocations_expires_at ON revocations (expires_at);
CREATE INDEX revocations_revoked_at ON revocations (revoked_at);

CREATE TABLE auth_codes (
	hash              text COLLATE "C" PRIMARY KEY,
	client_id         text             NOT NULL,
	subject           text             NOT NULL,
	redirect_uri      text             NOT NULL,
	scopes            text[]           NOT NULL,
	nonce             text             NOT NULL,
	code_challenge    text             NOT NULL,
	session_id        text             NOT NULL,
	auth_time         timestamptz,
	created_at        timestamptz      NOT NULL,
	expires_at        timestamptz      NOT NULL,
	used_at           timestamptz,
	access_token_id   text             NOT NULL DEFAULT '',
	access_expires_at timestamptz
);

CREATE INDEX auth_codes_expires_at ON auth_codes (expires_at);

CREATE TABLE refresh_tokens (
	hash              text COLLATE "C" PRIMARY KEY,
	family_id         text             NOT NULL,
	client_id         text             NOT NULL,
	subject           text             NOT NULL,
	session_id        text             NOT NULL,
	scopes            text[]           NOT NULL,
	auth_time         timestamptz,
	created_at        timestamptz      NOT NULL,
	expires_at        timestamptz      NOT NULL,
	access_token_id   text             NOT NULL,
	access_expires_at timestamptz,
	rotated_at        timestamptz,
	successor         bytea            NOT NULL DEFAULT '\x',
	revoked_at        timestamptz
);

-- The three ways a family is revoked, and the sweep.
CREATE INDEX refresh_tokens_family_id  ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_session_id ON refresh_tokens (session_id);
CREATE INDEX refresh_tokens_subject    ON refresh_tokens (subject);
CREATE INDEX refresh_tokens_expires_at ON refresh_tokens (expires_at);

CREATE TABLE identity_sessions (
	id          text COLLATE "C" PRIMARY KEY,
	subject     text             NOT NULL,
	secret_hash text             NOT NULL,
	auth_time   timestamptz,
	created_at  timestamptz      NOT NULL,
	expires_at  timestamptz      NOT NULL,
	ended_at    timestamptz
);

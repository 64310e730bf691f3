-- Times are INTEGER unix milliseconds (UTC); NULL means "none" (a zero
-- time.Time), so "ended_at IS NULL" is "open".

CREATE TABLE signing_keys (
	id          TEXT    PRIMARY KEY,
	algorithm   TEXT    NOT NULL,
	private_jwk BLOB    NOT NULL,
	created_at  INTEGER NOT NULL,
	retire_at   INTEGER NOT NULL,
	expires_at  INTEGER NOT NULL
) STRICT;

CREATE TABLE sessions (
	id           TEXT    PRIMARY KEY,
	subject      TEXT    NOT NULL,
	client_id    TEXT    NOT NULL,
	kind         TEXT    NOT NULL,
	reserved     INTEGER NOT NULL,
	opened_at    INTEGER NOT NULL,
	last_seen_at INTEGER NOT NULL,
	expires_at   INTEGER,
	ended_at     INTEGER,
	end_reason   TEXT    NOT NULL DEFAULT ''
) STRICT;

-- Open sessions only: counted by every OpenSession, listed by
-- OpenSessions, scanned by EndStaleSessions. Ended sessions stay for
-- Session() but cost these queries nothing.
CREATE INDEX sessions_open ON sessions (opened_at, id) WHERE ended_at IS NULL;

CREATE TABLE revocations (
	jti        TEXT    PRIMARY KEY,
	expires_at INTEGER NOT NULL
) STRICT;

CREATE INDEX revocations_expires_at ON revocations (expires_at);

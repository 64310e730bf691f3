-- What the account page keeps and shows (SPEC §3 consent, §10 the
-- account page).
--
-- Times are INTEGER unix milliseconds (UTC); NULL means "none". Scopes
-- are a JSON array of strings, so any value round-trips.

-- 1. Consents (store.Consents): one per user and app, replaced whole by
-- a new answer, listed per user by app. The primary key serves both.
CREATE TABLE consents (
	subject    TEXT    NOT NULL,
	client_id  TEXT    NOT NULL,
	scopes     TEXT    NOT NULL,
	granted_at INTEGER NOT NULL,
	PRIMARY KEY (subject, client_id)
) STRICT;

-- 2. Where and when each sign-in came from, for "my sessions". Sessions
-- signed in before this migration say nothing. IdentitySessionsOf reads
-- the live sessions of a subject through identity_sessions_subject
-- (0005).
ALTER TABLE identity_sessions ADD COLUMN remote_addr TEXT NOT NULL DEFAULT '';
ALTER TABLE identity_sessions ADD COLUMN user_agent  TEXT NOT NULL DEFAULT '';

-- 3. Passwords users set themselves (store.PasswordChanges), one per
-- login; every process polls PasswordChangesSince.
CREATE TABLE password_changes (
	login      TEXT    PRIMARY KEY,
	hash       TEXT    NOT NULL,
	replaces   TEXT    NOT NULL,
	changed_at INTEGER NOT NULL
) STRICT;

CREATE INDEX password_changes_changed_at ON password_changes (changed_at);

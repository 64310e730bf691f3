-- What the account page keeps and shows (SPEC §3 consent, §10 the
-- account page), mirroring store/sqlite's 0006.
--
-- Times as in 0001 (timestamptz truncated to the millisecond; NULL means
-- "none"); scopes are text[]. Keys that lists are ordered by are
-- COLLATE "C".

-- 1. Consents (store.Consents): one per user and app, replaced whole by
-- a new answer, listed per user by app. The primary key serves both.
CREATE TABLE consents (
	subject    text             NOT NULL,
	client_id  text COLLATE "C" NOT NULL,
	scopes     text[]           NOT NULL,
	granted_at timestamptz      NOT NULL,
	PRIMARY KEY (subject, client_id)
);

-- 2. Where and when each sign-in came from, for "my sessions". Sessions
-- signed in before this migration say nothing. IdentitySessionsOf reads
-- the live sessions of a subject through identity_sessions_subject
-- (0005).
ALTER TABLE identity_sessions
	ADD COLUMN remote_addr text NOT NULL DEFAULT '',
	ADD COLUMN user_agent  text NOT NULL DEFAULT '';

-- 3. Passwords users set themselves (store.PasswordChanges), one per
-- login; every replica polls PasswordChangesSince.
CREATE TABLE password_changes (
	login      text COLLATE "C" PRIMARY KEY,
	hash       text             NOT NULL,
	replaces   text             NOT NULL,
	changed_at timestamptz      NOT NULL
);

CREATE INDEX password_changes_changed_at ON password_changes (changed_at);

-- A change is the directory's, as a run-time app is: it notifies the
-- apps topic (0003), whose listeners re-read both (directory.Table.Sync),
-- so the new password works on every replica within a second.
CREATE TRIGGER password_changes_changed AFTER INSERT OR UPDATE ON password_changes
	FOR EACH ROW EXECUTE FUNCTION erpgate_notify_change('apps');

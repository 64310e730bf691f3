-- Users created at run time (store.Users), beside the config file's,
-- and the one-time password reset links operators issue for them
-- (store.PasswordResets), issue 18. Mirrors store/sqlite's 0008.
--
-- Times as in 0001 (timestamptz truncated to the millisecond; NULL means
-- "none"). Keys that lists are ordered by are COLLATE "C".

-- 1. Users. A deleted user stays as a tombstone (deleted_at set, the
-- rest cleared) so every replica's UsersChangedSince sees the deletion;
-- creating the login again replaces it.
CREATE TABLE users (
	login          text COLLATE "C" PRIMARY KEY,
	id             text             NOT NULL,
	name           text             NOT NULL,
	email          text             NOT NULL,
	email_verified boolean          NOT NULL,
	locale         text             NOT NULL,
	type           text             NOT NULL,
	admin          boolean          NOT NULL,
	password_hash  text             NOT NULL,
	disabled       boolean          NOT NULL,
	created_at     timestamptz      NOT NULL,
	updated_at     timestamptz      NOT NULL,
	deleted_at     timestamptz
);

-- Every replica polls UsersChangedSince.
CREATE INDEX users_updated_at ON users (updated_at);

-- A change (a tombstone included) notifies the users topic (0003's
-- function), whose listeners re-read the directory's stored part
-- (directory.Table.Sync): a disabled or deleted user is refused on every
-- replica within milliseconds, not at its next poll.
CREATE TRIGGER users_changed AFTER INSERT OR UPDATE ON users
	FOR EACH ROW EXECUTE FUNCTION erpgate_notify_change('users');

-- 2. Reset links, by the SHA-256 of their token: one per login, so a
-- new link replaces the previous one; a used link keeps used_at, so its
-- page can say it was used. Read on use only: no notification.
CREATE TABLE password_resets (
	hash       text COLLATE "C" NOT NULL UNIQUE,
	login      text COLLATE "C" PRIMARY KEY,
	created_at timestamptz      NOT NULL,
	created_by text             NOT NULL,
	expires_at timestamptz      NOT NULL,
	used_at    timestamptz
);

-- Users created at run time (store.Users), beside the config file's,
-- and the one-time password reset links operators issue for them
-- (store.PasswordResets), issue 18.
--
-- Times are INTEGER unix milliseconds (UTC); NULL means "none". Booleans
-- are 0 or 1.

-- 1. Users. A deleted user stays as a tombstone (deleted_at set, the
-- rest cleared) so every process's UsersChangedSince sees the deletion;
-- creating the login again replaces it.
CREATE TABLE users (
	login          TEXT    PRIMARY KEY,
	id             TEXT    NOT NULL,
	name           TEXT    NOT NULL,
	email          TEXT    NOT NULL,
	email_verified INTEGER NOT NULL,
	locale         TEXT    NOT NULL,
	type           TEXT    NOT NULL,
	admin          INTEGER NOT NULL,
	password_hash  TEXT    NOT NULL,
	disabled       INTEGER NOT NULL,
	created_at     INTEGER NOT NULL,
	updated_at     INTEGER NOT NULL,
	deleted_at     INTEGER
) STRICT;

-- Every process polls UsersChangedSince.
CREATE INDEX users_updated_at ON users (updated_at);

-- 2. Reset links, by the SHA-256 of their token: one per login, so a
-- new link replaces the previous one; a used link keeps used_at, so its
-- page can say it was used.
CREATE TABLE password_resets (
	hash       TEXT    NOT NULL UNIQUE,
	login      TEXT    PRIMARY KEY,
	created_at INTEGER NOT NULL,
	created_by TEXT    NOT NULL,
	expires_at INTEGER NOT NULL,
	used_at    INTEGER
) STRICT;

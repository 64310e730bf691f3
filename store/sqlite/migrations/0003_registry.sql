-- What administrators create at run time (store.Registry): Trusted
-- Applications beside the declarative ones of the config file, and
-- reference tokens (PAT/SAT).
--
-- Times are INTEGER unix milliseconds (UTC); NULL means "none". String
-- lists are JSON arrays of strings, so any value round-trips. Booleans
-- are 0 or 1.

CREATE TABLE apps (
	uri                       TEXT    PRIMARY KEY,
	name                      TEXT    NOT NULL,
	public                    INTEGER NOT NULL,
	secret_hash               BLOB,             -- NULL for public apps
	system_user               TEXT    NOT NULL,
	scopes                    TEXT    NOT NULL,
	redirect_uris             TEXT    NOT NULL,
	post_logout_redirect_uris TEXT    NOT NULL,
	allow_internal_users      INTEGER NOT NULL,
	allow_community_users     INTEGER NOT NULL,
	reference_tokens          TEXT    NOT NULL,
	require_pkce              INTEGER NOT NULL,
	enabled                   INTEGER NOT NULL,
	created_at                INTEGER NOT NULL,
	updated_at                INTEGER NOT NULL
) STRICT;

-- Every process polls AppsChangedSince.
CREATE INDEX apps_updated_at ON apps (updated_at);

CREATE TABLE reference_tokens (
	id           TEXT    PRIMARY KEY,
	hash         TEXT    NOT NULL UNIQUE, -- looked up on every proxied call
	type         TEXT    NOT NULL,
	client_id    TEXT    NOT NULL,
	subject      TEXT    NOT NULL,
	scopes       TEXT    NOT NULL,
	created_at   INTEGER NOT NULL,
	created_by   TEXT    NOT NULL,
	expires_at   INTEGER,
	last_used_at INTEGER,
	revoked_at   INTEGER
) STRICT;

CREATE INDEX reference_tokens_subject ON reference_tokens (subject, created_at);

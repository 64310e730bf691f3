-- What administrators create at run time (store.Registry): Trusted
-- Applications beside the declarative ones of the config file, and
-- reference tokens (PAT/SAT). Mirrors store/sqlite's 0003_registry.sql.
--
-- Times as in 0001 (timestamptz truncated to the millisecond; NULL means
-- "none"); string lists are text[], byte strings bytea.

CREATE TABLE apps (
	uri                       text COLLATE "C" PRIMARY KEY,
	name                      text             NOT NULL,
	public                    boolean          NOT NULL,
	secret_hash               bytea,            -- NULL for public apps
	system_user               text             NOT NULL,
	scopes                    text[]           NOT NULL,
	redirect_uris             text[]           NOT NULL,
	post_logout_redirect_uris text[]           NOT NULL,
	allow_internal_users      boolean          NOT NULL,
	allow_community_users     boolean          NOT NULL,
	reference_tokens          text             NOT NULL,
	require_pkce              boolean          NOT NULL,
	enabled                   boolean          NOT NULL,
	created_at                timestamptz      NOT NULL,
	updated_at                timestamptz      NOT NULL
);

-- Every replica polls AppsChangedSince.
CREATE INDEX apps_updated_at ON apps (updated_at);

CREATE TABLE reference_tokens (
	id           text COLLATE "C" PRIMARY KEY,
	hash         text COLLATE "C" NOT NULL UNIQUE, -- looked up on a cache miss of the proxy
	type         text             NOT NULL,
	client_id    text             NOT NULL,
	subject      text             NOT NULL,
	scopes       text[]           NOT NULL,
	created_at   timestamptz      NOT NULL,
	created_by   text             NOT NULL,
	expires_at   timestamptz,
	last_used_at timestamptz,
	revoked_at   timestamptz
);

CREATE INDEX reference_tokens_subject ON reference_tokens (subject, created_at);

-- Issue 19: sign-in through external identity providers. How each
-- sign-in authenticated (store.Authentication: the idp, tid and amr
-- claims) travels from the identity session to its codes and refresh
-- tokens; amr values are a JSON string list like scopes. Links tie an
-- identity at a provider (its id and the provider's subject) to a local
-- user.
ALTER TABLE identity_sessions ADD COLUMN auth_provider TEXT NOT NULL DEFAULT '';
ALTER TABLE identity_sessions ADD COLUMN auth_tenant TEXT NOT NULL DEFAULT '';
ALTER TABLE identity_sessions ADD COLUMN auth_methods TEXT NOT NULL DEFAULT '[]';
ALTER TABLE auth_codes ADD COLUMN auth_provider TEXT NOT NULL DEFAULT '';
ALTER TABLE auth_codes ADD COLUMN auth_tenant TEXT NOT NULL DEFAULT '';
ALTER TABLE auth_codes ADD COLUMN auth_methods TEXT NOT NULL DEFAULT '[]';
ALTER TABLE refresh_tokens ADD COLUMN auth_provider TEXT NOT NULL DEFAULT '';
ALTER TABLE refresh_tokens ADD COLUMN auth_tenant TEXT NOT NULL DEFAULT '';
ALTER TABLE refresh_tokens ADD COLUMN auth_methods TEXT NOT NULL DEFAULT '[]';
CREATE TABLE federated_links (
	provider     TEXT    NOT NULL,
	subject      TEXT    NOT NULL,
	login        TEXT    NOT NULL,
	created_at   INTEGER NOT NULL,
	last_used_at INTEGER NOT NULL,
	PRIMARY KEY (provider, subject)
) STRICT;
CREATE INDEX federated_links_login ON federated_links (login);

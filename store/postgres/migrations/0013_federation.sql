-- Issue 19: sign-in through external identity providers. How each
-- sign-in authenticated (store.Authentication: the idp, tid and amr
-- claims) travels from the identity session to its codes and refresh
-- tokens. Links tie an identity at a provider (its id and the provider's
-- subject) to a local user.
ALTER TABLE identity_sessions ADD COLUMN auth_provider text NOT NULL DEFAULT '';
ALTER TABLE identity_sessions ADD COLUMN auth_tenant text NOT NULL DEFAULT '';
ALTER TABLE identity_sessions ADD COLUMN auth_methods text[] NOT NULL DEFAULT '{}';
ALTER TABLE auth_codes ADD COLUMN auth_provider text NOT NULL DEFAULT '';
ALTER TABLE auth_codes ADD COLUMN auth_tenant text NOT NULL DEFAULT '';
ALTER TABLE auth_codes ADD COLUMN auth_methods text[] NOT NULL DEFAULT '{}';
ALTER TABLE refresh_tokens ADD COLUMN auth_provider text NOT NULL DEFAULT '';
ALTER TABLE refresh_tokens ADD COLUMN auth_tenant text NOT NULL DEFAULT '';
ALTER TABLE refresh_tokens ADD COLUMN auth_methods text[] NOT NULL DEFAULT '{}';
CREATE TABLE federated_links (
	provider     text COLLATE "C" NOT NULL,
	subject      text COLLATE "C" NOT NULL,
	login        text COLLATE "C" NOT NULL,
	created_at   timestamptz      NOT NULL,
	last_used_at timestamptz      NOT NULL,
	PRIMARY KEY (provider, subject)
);
CREATE INDEX federated_links_login ON federated_links (login);

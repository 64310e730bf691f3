-- Issue 20: passkeys (WebAuthn credentials), one row per credential.
-- Byte strings (credential id, user handle, COSE key, AAGUID) are kept
-- base64url-encoded without padding, as text in both backends. The sign
-- count moves forward in one conditional UPDATE (WebAuthn §6.1.1), so of
-- two replicas accepting one assertion the second changes no row.
CREATE TABLE passkeys (
	credential_id   text COLLATE "C" NOT NULL PRIMARY KEY,
	login           text COLLATE "C" NOT NULL,
	user_handle     text COLLATE "C" NOT NULL,
	public_key      text             NOT NULL,
	sign_count      bigint           NOT NULL DEFAULT 0,
	aaguid          text             NOT NULL DEFAULT '',
	transports      text[]           NOT NULL DEFAULT '{}',
	backup_eligible boolean          NOT NULL DEFAULT false,
	backup_state    boolean          NOT NULL DEFAULT false,
	user_verified   boolean          NOT NULL DEFAULT false,
	name            text             NOT NULL DEFAULT '',
	created_at      timestamptz      NOT NULL,
	last_used_at    timestamptz
);
CREATE INDEX passkeys_login ON passkeys (login);

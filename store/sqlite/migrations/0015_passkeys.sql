-- Issue 20: passkeys (WebAuthn credentials), one row per credential.
-- Byte strings (credential id, user handle, COSE key, AAGUID) are kept
-- base64url-encoded without padding, as text in both backends. The sign
-- count moves forward in one conditional UPDATE (WebAuthn §6.1.1).
CREATE TABLE passkeys (
	credential_id   TEXT    NOT NULL PRIMARY KEY,
	login           TEXT    NOT NULL,
	user_handle     TEXT    NOT NULL,
	public_key      TEXT    NOT NULL,
	sign_count      INTEGER NOT NULL DEFAULT 0,
	aaguid          TEXT    NOT NULL DEFAULT '',
	transports      TEXT    NOT NULL DEFAULT '[]',
	backup_eligible INTEGER NOT NULL DEFAULT 0,
	backup_state    INTEGER NOT NULL DEFAULT 0,
	user_verified   INTEGER NOT NULL DEFAULT 0,
	name            TEXT    NOT NULL DEFAULT '',
	created_at      INTEGER NOT NULL,
	last_used_at    INTEGER
) STRICT;
CREATE INDEX passkeys_login ON passkeys (login);

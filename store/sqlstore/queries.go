package sqlstore

// queries are the core's statements, rebound for one flavor (Rebind)
// when its Records are built, so that a statement's text is the same on
// every call (SQLite's pools prepare each text once).
type queries struct {
	createApp, app, apps, updateApp, appsSince                               string
	saveRefToken, refTokenByHash, refTokenByID, refTokens, refTokensOf       string
	revokeRefToken, savePasswordChange, passwordChangesSince                 string
	createUser, user, users, updateUser, deleteUser, usersSince              string
	savePasswordReset, passwordReset, usePasswordReset                       string
	authCode, saveAuthCode, deleteExpiredAuthCodes                           string
	refreshToken, saveRefresh, deleteExpiredRefresh                          string
	family, sessionFamilies, subjectFamilies                                 string
	identity, saveIdentity, endIdentity, endSubjectIdentities, identitiesOf  string
	consent, saveConsent, consentsOf, revokeConsent                          string
	session, openSessions, endedSessionsSince                                string
	signingKeys, addSigningKey, deleteExpiredKeys                            string
	revoke, revoked, revokedSince, deleteExpiredRevocations                  string
	recordSessionClient, takeSessionClients, deleteStaleSessionClients       string
	federatedLink, saveFederatedLink, federatedLinksOf, deleteFederatedLinks string
	totp, saveTOTP, confirmTOTP, useTOTPStep, deleteTOTP                     string
	insertRecoveryCode, setRecoveryBatch, deleteOldRecoveryCodes             string
	recoveryCodes, useRecoveryCode, deleteRecoveryBatch, deleteRecoveryCodes string
	savePasskey, passkeys, passkey, usePasskey, renamePasskey, deletePasskey string
	deletePasskeys                                                           string
}

func newQueries(f Flavor) queries {
	q := queries{
		createApp: `INSERT INTO apps (` + AppColumns + `)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23) ON CONFLICT (uri) DO NOTHING`,
		app:  "SELECT " + AppColumns + " FROM apps WHERE uri = $1",
		apps: "SELECT " + AppColumns + " FROM apps ORDER BY created_at, uri",
		updateApp: `UPDATE apps SET
				name = $2, public = $3, secret_hash = $4, system_user = $5, scopes = $6, redirect_uris = $7,
				post_logout_redirect_uris = $8, allow_internal_users = $9, allow_community_users = $10,
				reference_tokens = $11, require_pkce = $12, enabled = $13, updated_at = $14, consent_required = $15,
				dpop_required = $16, backchannel_logout_uri = $17, backchannel_logout_sid = $18, token_exchange = $19,
				identity_providers = $20, local_passwords = $21, mfa_required = $22
			WHERE uri = $1`,
		appsSince: "SELECT " + AppColumns + " FROM apps WHERE updated_at >= $1 ORDER BY updated_at, uri",

		saveRefToken: `INSERT INTO reference_tokens (` + RefTokenColumns + `)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) ON CONFLICT DO NOTHING`,
		refTokenByHash: "SELECT " + RefTokenColumns + " FROM reference_tokens WHERE hash = $1",
		refTokenByID:   "SELECT " + RefTokenColumns + " FROM reference_tokens WHERE id = $1",
		refTokens:      "SELECT " + RefTokenColumns + " FROM reference_tokens ORDER BY created_at, id",
		refTokensOf:    "SELECT " + RefTokenColumns + " FROM reference_tokens WHERE subject = $1 ORDER BY created_at, id",
		revokeRefToken: `UPDATE reference_tokens SET revoked_at = coalesce(revoked_at, $1) WHERE id = $2
			RETURNING ` + RefTokenColumns,
		savePasswordChange: `INSERT INTO password_changes (login, hash, replaces, changed_at) VALUES ($1, $2, $3, $4)
			ON CONFLICT (login) DO UPDATE SET
				hash = excluded.hash, replaces = excluded.replaces, changed_at = excluded.changed_at`,
		passwordChangesSince: `SELECT login, hash, replaces, changed_at FROM password_changes
			WHERE changed_at >= $1 ORDER BY changed_at, login`,

		createUser: `INSERT INTO users AS u (` + UserColumns + `)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
			ON CONFLICT (login) DO UPDATE SET
				id = excluded.id, name = excluded.name, email = excluded.email, email_verified = excluded.email_verified,
				locale = excluded.locale, type = excluded.type, admin = excluded.admin, password_hash = excluded.password_hash,
				disabled = excluded.disabled, created_at = excluded.created_at, updated_at = excluded.updated_at,
				deleted_at = NULL, mfa_required = excluded.mfa_required
			WHERE u.deleted_at IS NOT NULL`,
		user:  "SELECT " + UserColumns + " FROM users WHERE login = $1 AND deleted_at IS NULL",
		users: "SELECT " + UserColumns + " FROM users WHERE deleted_at IS NULL ORDER BY created_at, login",
		updateUser: `UPDATE users SET
				name = $2, email = $3, email_verified = $4, locale = $5, type = $6, admin = $7, password_hash = $8,
				disabled = $9, updated_at = $10, mfa_required = $11
			WHERE login = $1 AND deleted_at IS NULL`,
		deleteUser: `UPDATE users SET
				name = '', email = '', email_verified = FALSE, locale = '', admin = FALSE, password_hash = '',
				disabled = TRUE, updated_at = $2, deleted_at = $2, mfa_required = FALSE
			WHERE login = $1 AND deleted_at IS NULL`,
		usersSince: "SELECT " + UserColumns + " FROM users WHERE updated_at >= $1 ORDER BY updated_at, login",

		savePasswordReset: `INSERT INTO password_resets (` + ResetColumns + `) VALUES ($1, $2, $3, $4, $5, $6)
			ON CONFLICT (login) DO UPDATE SET
				hash = excluded.hash, created_at = excluded.created_at, created_by = excluded.created_by,
				expires_at = excluded.expires_at, used_at = excluded.used_at`,
		passwordReset: "SELECT " + ResetColumns + " FROM password_resets WHERE hash = $1",
		usePasswordReset: `UPDATE password_resets SET used_at = $2 WHERE hash = $1 AND used_at IS NULL AND expires_at > $2
			RETURNING ` + ResetColumns,

		authCode: "SELECT " + AuthCodeColumns + " FROM auth_codes WHERE hash = $1",
		saveAuthCode: `INSERT INTO auth_codes (` + AuthCodeColumns + `)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18) ON CONFLICT (hash) DO NOTHING`,
		deleteExpiredAuthCodes: "DELETE FROM auth_codes WHERE expires_at < $1",

		refreshToken: "SELECT " + RefreshColumns + " FROM refresh_tokens WHERE hash = $1",
		saveRefresh: `INSERT INTO refresh_tokens (` + RefreshColumns + `)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19) ON CONFLICT (hash) DO NOTHING`,
		deleteExpiredRefresh: "DELETE FROM refresh_tokens WHERE expires_at < $1",
		// The families to revoke (Config.RevokeFamilies).
		family:          "SELECT CAST($1 AS text)",
		sessionFamilies: "SELECT family_id FROM refresh_tokens WHERE session_id = $1",
		subjectFamilies: "SELECT family_id FROM refresh_tokens WHERE subject = $1",

		identity: "SELECT " + IdentityColumns + " FROM identity_sessions WHERE id = $1",
		saveIdentity: `INSERT INTO identity_sessions AS i (` + IdentityColumns + `)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
			ON CONFLICT (id) DO UPDATE SET
				subject = excluded.subject, secret_hash = excluded.secret_hash, auth_time = excluded.auth_time,
				created_at = excluded.created_at, expires_at = excluded.expires_at, ended_at = excluded.ended_at,
				remote_addr = excluded.remote_addr, user_agent = excluded.user_agent,
				auth_provider = excluded.auth_provider, auth_tenant = excluded.auth_tenant, auth_methods = excluded.auth_methods,
				auth_acr = excluded.auth_acr
			WHERE i.ended_at IS NULL AND i.subject = excluded.subject`,
		endIdentity:          "UPDATE identity_sessions SET ended_at = $2 WHERE id = $1 AND ended_at IS NULL",
		endSubjectIdentities: "UPDATE identity_sessions SET ended_at = $2 WHERE subject = $1 AND ended_at IS NULL RETURNING id",
		identitiesOf: "SELECT " + IdentityColumns + ` FROM identity_sessions
			WHERE subject = $1 AND ended_at IS NULL AND expires_at > $2
			ORDER BY auth_time DESC NULLS LAST, id`,

		consent: "SELECT " + ConsentColumns + " FROM consents WHERE subject = $1 AND client_id = $2",
		saveConsent: `INSERT INTO consents (` + ConsentColumns + `) VALUES ($1, $2, $3, $4)
			ON CONFLICT (subject, client_id) DO UPDATE SET scopes = excluded.scopes, granted_at = excluded.granted_at`,
		consentsOf:    "SELECT " + ConsentColumns + " FROM consents WHERE subject = $1 ORDER BY client_id",
		revokeConsent: "DELETE FROM consents WHERE subject = $1 AND client_id = $2",

		session:            "SELECT " + SessionColumns + " FROM sessions WHERE id = $1",
		openSessions:       "SELECT " + SessionColumns + " FROM sessions WHERE ended_at IS NULL ORDER BY opened_at, id",
		endedSessionsSince: "SELECT " + SessionColumns + " FROM sessions WHERE ended_at IS NOT NULL AND ended_at >= $1 ORDER BY ended_at, id",

		signingKeys: `SELECT id, algorithm, private_jwk, created_at, retire_at, expires_at
			FROM signing_keys ORDER BY created_at, id`,
		addSigningKey: `INSERT INTO signing_keys (id, algorithm, private_jwk, created_at, retire_at, expires_at)
			VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO NOTHING`,
		deleteExpiredKeys: "DELETE FROM signing_keys WHERE expires_at < $1",

		revoke: `INSERT INTO revocations AS r (jti, expires_at, revoked_at) VALUES ($1, $2, $3)
			ON CONFLICT (jti) DO UPDATE SET
				expires_at = excluded.expires_at,
				revoked_at = CASE WHEN excluded.revoked_at > r.revoked_at THEN excluded.revoked_at ELSE r.revoked_at END
			WHERE excluded.expires_at > r.expires_at`,
		revoked: "SELECT 1 FROM revocations WHERE jti = $1",
		revokedSince: `SELECT jti, expires_at, revoked_at FROM revocations
			WHERE revoked_at >= $1 ORDER BY revoked_at, jti`,
		deleteExpiredRevocations: "DELETE FROM revocations WHERE expires_at < $1",

		// A refresh writes the pair again: the row keeps the later time.
		recordSessionClient: `INSERT INTO session_clients AS c (session_id, client_id, subject, seen_at) VALUES ($1, $2, $3, $4)
			ON CONFLICT (session_id, client_id) DO UPDATE SET subject = excluded.subject, seen_at = excluded.seen_at
			WHERE excluded.seen_at > c.seen_at`,
		takeSessionClients:        "DELETE FROM session_clients WHERE session_id = $1 RETURNING session_id, client_id, subject, seen_at",
		deleteStaleSessionClients: "DELETE FROM session_clients WHERE seen_at < $1",

		federatedLink: "SELECT " + LinkColumns + " FROM federated_links WHERE provider = $1 AND subject = $2",
		// The same identity again moves last_used_at forward; linked to
		// another login the upsert changes nothing (ErrConflict).
		saveFederatedLink: `INSERT INTO federated_links AS l (` + LinkColumns + `) VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (provider, subject) DO UPDATE SET
				last_used_at = CASE WHEN excluded.last_used_at > l.last_used_at THEN excluded.last_used_at ELSE l.last_used_at END
			WHERE l.login = excluded.login`,
		federatedLinksOf:     "SELECT " + LinkColumns + " FROM federated_links WHERE login = $1 ORDER BY provider, subject",
		deleteFederatedLinks: "DELETE FROM federated_links WHERE login = $1",

		totp: "SELECT " + TOTPColumns + " FROM totp_factors WHERE login = $1",
		// A pending enrolment is replaced whole; a confirmed one is kept
		// (ErrConflict).
		saveTOTP: `INSERT INTO totp_factors AS t (` + TOTPColumns + `) VALUES ($1, $2, $3, NULL, 0)
			ON CONFLICT (login) DO UPDATE SET secret = excluded.secret, created_at = excluded.created_at, last_step = 0
			WHERE t.confirmed_at IS NULL`,
		confirmTOTP: "UPDATE totp_factors SET confirmed_at = $3, last_step = $4 WHERE login = $1 AND secret = $2 AND confirmed_at IS NULL",
		useTOTPStep: "UPDATE totp_factors SET last_step = $2 WHERE login = $1 AND confirmed_at IS NOT NULL AND last_step < $2",
		deleteTOTP:  "DELETE FROM totp_factors WHERE login = $1",

		insertRecoveryCode: "INSERT INTO recovery_codes (login, batch, hash) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
		setRecoveryBatch: `INSERT INTO recovery_batches (login, batch, created_at) VALUES ($1, $2, $3)
			ON CONFLICT (login) DO UPDATE SET batch = excluded.batch, created_at = excluded.created_at`,
		deleteOldRecoveryCodes: "DELETE FROM recovery_codes WHERE login = $1 AND batch <> $2",
		recoveryCodes: `SELECT c.hash FROM recovery_codes c JOIN recovery_batches b ON b.login = c.login AND b.batch = c.batch
			WHERE c.login = $1 ORDER BY c.hash`,
		useRecoveryCode: `DELETE FROM recovery_codes WHERE login = $1 AND hash = $2
			AND batch = (SELECT batch FROM recovery_batches WHERE login = $1)`,
		deleteRecoveryBatch: "DELETE FROM recovery_batches WHERE login = $1",
		deleteRecoveryCodes: "DELETE FROM recovery_codes WHERE login = $1",

		savePasskey: `INSERT INTO passkeys (` + PasskeyColumns + `)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) ON CONFLICT (credential_id) DO NOTHING`,
		passkeys: "SELECT " + PasskeyColumns + " FROM passkeys WHERE login = $1 ORDER BY created_at, credential_id",
		passkey:  "SELECT " + PasskeyColumns + " FROM passkeys WHERE credential_id = $1",
		// WebAuthn §6.1.1: a count that did not grow is refused; both
		// zero is an authenticator that keeps no counter.
		usePasskey: `UPDATE passkeys SET sign_count = $2, last_used_at = $3
			WHERE credential_id = $1 AND (sign_count < $2 OR (sign_count = 0 AND $2 = 0))`,
		renamePasskey:  "UPDATE passkeys SET name = $3 WHERE credential_id = $1 AND login = $2",
		deletePasskey:  "DELETE FROM passkeys WHERE credential_id = $1 AND login = $2",
		deletePasskeys: "DELETE FROM passkeys WHERE login = $1",
	}
	for _, p := range []*string{
		&q.createApp, &q.app, &q.apps, &q.updateApp, &q.appsSince,
		&q.saveRefToken, &q.refTokenByHash, &q.refTokenByID, &q.refTokens, &q.refTokensOf,
		&q.revokeRefToken, &q.savePasswordChange, &q.passwordChangesSince,
		&q.createUser, &q.user, &q.users, &q.updateUser, &q.deleteUser, &q.usersSince,
		&q.savePasswordReset, &q.passwordReset, &q.usePasswordReset,
		&q.authCode, &q.saveAuthCode, &q.deleteExpiredAuthCodes,
		&q.refreshToken, &q.saveRefresh, &q.deleteExpiredRefresh,
		&q.family, &q.sessionFamilies, &q.subjectFamilies,
		&q.identity, &q.saveIdentity, &q.endIdentity, &q.endSubjectIdentities, &q.identitiesOf,
		&q.consent, &q.saveConsent, &q.consentsOf, &q.revokeConsent,
		&q.session, &q.openSessions, &q.endedSessionsSince,
		&q.signingKeys, &q.addSigningKey, &q.deleteExpiredKeys,
		&q.revoke, &q.revoked, &q.revokedSince, &q.deleteExpiredRevocations,
		&q.recordSessionClient, &q.takeSessionClients, &q.deleteStaleSessionClients,
		&q.federatedLink, &q.saveFederatedLink, &q.federatedLinksOf, &q.deleteFederatedLinks,
		&q.totp, &q.saveTOTP, &q.confirmTOTP, &q.useTOTPStep, &q.deleteTOTP,
		&q.insertRecoveryCode, &q.setRecoveryBatch, &q.deleteOldRecoveryCodes,
		&q.recoveryCodes, &q.useRecoveryCode, &q.deleteRecoveryBatch, &q.deleteRecoveryCodes,
		&q.savePasskey, &q.passkeys, &q.passkey, &q.usePasskey, &q.renamePasskey, &q.deletePasskey, &q.deletePasskeys,
	} {
		*p = Rebind(f, *p)
	}
	return q
}

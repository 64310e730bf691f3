package sqlstore

import (
	"context"
	"slices"
	"time"

	"github.com/erpgate/erpgate/store"
)

// AuthCodeColumns are the columns of auth_codes, in ScanAuthCode's order.
const AuthCodeColumns = `hash, client_id, subject, redirect_uri, scopes, nonce, code_challenge, session_id,
	auth_time, created_at, expires_at, used_at, access_token_id, access_expires_at,
	auth_provider, auth_tenant, auth_methods, auth_acr`

// ScanAuthCode reads a row of AuthCodeColumns.
func (r *Records) ScanAuthCode(row Row) (store.AuthCode, error) {
	var c store.AuthCode
	f := r.f
	if err := row.Scan(&c.Hash, &c.ClientID, &c.Subject, &c.RedirectURI, f.ScanStrings(&c.Scopes), &c.Nonce,
		&c.CodeChallenge, &c.SessionID, f.ScanTime(&c.AuthTime), f.ScanTime(&c.CreatedAt), f.ScanTime(&c.ExpiresAt),
		f.ScanTime(&c.UsedAt), &c.AccessTokenID, f.ScanTime(&c.AccessExpiresAt),
		&c.Auth.Provider, &c.Auth.Tenant, f.ScanStrings(&c.Auth.Methods), &c.Auth.ACR); err != nil {
		return store.AuthCode{}, err
	}
	c.Scopes, c.Auth.Methods = OrNil(c.Scopes), OrNil(c.Auth.Methods)
	return c, nil
}

// AuthCode reads the code with hash through db; store.ErrNotFound.
func (r *Records) AuthCode(ctx context.Context, db DB, hash string) (store.AuthCode, error) {
	return one(r, db.QueryRow(ctx, r.q.authCode, hash), r.ScanAuthCode, "auth code", store.ErrNotFound)
}

// SaveAuthCode stores c; store.ErrConflict if its hash exists.
func (s *Store) SaveAuthCode(ctx context.Context, c store.AuthCode) error {
	f := s.rec.f
	n, err := s.insert.Exec(ctx, s.rec.q.saveAuthCode,
		c.Hash, c.ClientID, c.Subject, c.RedirectURI, f.Strings(c.Scopes), c.Nonce, c.CodeChallenge, c.SessionID,
		f.NullTime(c.AuthTime), f.Time(c.CreatedAt), f.Time(c.ExpiresAt), f.NullTime(c.UsedAt),
		c.AccessTokenID, f.NullTime(c.AccessExpiresAt), c.Auth.Provider, c.Auth.Tenant, f.Strings(c.Auth.Methods), c.Auth.ACR)
	return s.rec.changed(n, err, "save auth code", store.ErrConflict)
}

// DeleteExpiredAuthCodes forgets codes whose ExpiresAt is before now.
func (s *Store) DeleteExpiredAuthCodes(ctx context.Context, now time.Time) error {
	return s.deleteExpired(ctx, "delete expired auth codes", s.rec.q.deleteExpiredAuthCodes, now)
}

// deleteExpired runs a sweep with the one argument now.
func (s *Store) deleteExpired(ctx context.Context, what, query string, now time.Time) error {
	if _, err := s.sweep.Exec(ctx, query, s.rec.f.Time(now)); err != nil {
		return s.rec.Err(what, err)
	}
	return nil
}

// RefreshColumns are the columns of refresh_tokens, in ScanRefresh's
// order.
const RefreshColumns = `hash, family_id, client_id, subject, session_id, scopes, auth_time, created_at, expires_at,
	access_token_id, access_expires_at, rotated_at, successor, revoked_at, dpop_jkt,
	auth_provider, auth_tenant, auth_methods, auth_acr`

// ScanRefresh reads a row of RefreshColumns.
func (r *Records) ScanRefresh(row Row) (store.RefreshToken, error) {
	var t store.RefreshToken
	f := r.f
	if err := row.Scan(&t.Hash, &t.FamilyID, &t.ClientID, &t.Subject, &t.SessionID, f.ScanStrings(&t.Scopes),
		f.ScanTime(&t.AuthTime), f.ScanTime(&t.CreatedAt), f.ScanTime(&t.ExpiresAt), &t.AccessTokenID,
		f.ScanTime(&t.AccessExpiresAt), f.ScanTime(&t.RotatedAt), &t.Successor, f.ScanTime(&t.RevokedAt), &t.DPoPJKT,
		&t.Auth.Provider, &t.Auth.Tenant, f.ScanStrings(&t.Auth.Methods), &t.Auth.ACR); err != nil {
		return store.RefreshToken{}, err
	}
	t.Scopes, t.Successor, t.Auth.Methods = OrNil(t.Scopes), OrNil(t.Successor), OrNil(t.Auth.Methods)
	return t, nil
}

// RefreshToken reads the token with hash through db; store.ErrNotFound.
func (r *Records) RefreshToken(ctx context.Context, db DB, hash string) (store.RefreshToken, error) {
	return one(r, db.QueryRow(ctx, r.q.refreshToken, hash), r.ScanRefresh, "refresh token", store.ErrNotFound)
}

// InsertRefresh inserts t through db; store.ErrConflict if its hash
// exists.
func (r *Records) InsertRefresh(ctx context.Context, db Execer, t store.RefreshToken) error {
	f := r.f
	n, err := db.Exec(ctx, r.q.saveRefresh,
		t.Hash, t.FamilyID, t.ClientID, t.Subject, t.SessionID, f.Strings(t.Scopes), f.NullTime(t.AuthTime),
		f.Time(t.CreatedAt), f.Time(t.ExpiresAt), t.AccessTokenID, f.NullTime(t.AccessExpiresAt),
		f.NullTime(t.RotatedAt), NonNil(t.Successor), f.NullTime(t.RevokedAt), t.DPoPJKT,
		t.Auth.Provider, t.Auth.Tenant, f.Strings(t.Auth.Methods), t.Auth.ACR)
	return r.changed(n, err, "save refresh token", store.ErrConflict)
}

// scanIssued reads a row of access_token_id, access_expires_at.
func (r *Records) scanIssued(row Row) (store.IssuedToken, error) {
	var it store.IssuedToken
	err := row.Scan(&it.ID, r.f.ScanTime(&it.ExpiresAt))
	return it, err
}

// IssuedTokens lists the access tokens issued with the refresh tokens
// whose family_id matches familyIn (a condition such as "IN (…)" or
// "= ANY($1)", whose one parameter is arg), oldest token first: what a
// revocation of those families returns.
func (r *Records) IssuedTokens(ctx context.Context, db DB, familyIn string, arg any) ([]store.IssuedToken, error) {
	rows, err := db.Query(ctx, `SELECT access_token_id, access_expires_at FROM refresh_tokens
		WHERE access_token_id <> '' AND family_id `+familyIn+` ORDER BY created_at, hash`, arg)
	return Collect(rows, err, r.scanIssued)
}

// SaveRefreshToken stores t; store.ErrConflict if its hash exists. A new
// family has no rows for a revocation to miss, so it takes no lock.
func (s *Store) SaveRefreshToken(ctx context.Context, t store.RefreshToken) error {
	return s.rec.InsertRefresh(ctx, s.insert, t)
}

// RefreshToken returns the token with hash; store.ErrNotFound.
func (s *Store) RefreshToken(ctx context.Context, hash string) (store.RefreshToken, error) {
	return s.rec.RefreshToken(ctx, s.read, hash)
}

// RevokeRefreshFamily revokes the family and returns its access tokens.
func (s *Store) RevokeRefreshFamily(ctx context.Context, familyID string, now time.Time) ([]store.IssuedToken, error) {
	return s.revokeFamilies(ctx, s.rec.q.family, familyID, now)
}

// RevokeSessionRefreshTokens revokes the families with a token of the
// session and returns their access tokens.
func (s *Store) RevokeSessionRefreshTokens(ctx context.Context, sessionID string, now time.Time) ([]store.IssuedToken, error) {
	return s.revokeFamilies(ctx, s.rec.q.sessionFamilies, sessionID, now)
}

// RevokeSubjectRefreshTokens revokes the families with a token of the
// subject and returns their access tokens.
func (s *Store) RevokeSubjectRefreshTokens(ctx context.Context, subject string, now time.Time) ([]store.IssuedToken, error) {
	return s.revokeFamilies(ctx, s.rec.q.subjectFamilies, subject, now)
}

// DeleteExpiredRefreshTokens forgets tokens whose ExpiresAt is before now.
func (s *Store) DeleteExpiredRefreshTokens(ctx context.Context, now time.Time) error {
	return s.deleteExpired(ctx, "delete expired refresh tokens", s.rec.q.deleteExpiredRefresh, now)
}

// IdentityColumns are the columns of identity_sessions, in ScanIdentity's
// order.
const IdentityColumns = `id, subject, secret_hash, auth_time, created_at, expires_at, ended_at, remote_addr, user_agent,
	auth_provider, auth_tenant, auth_methods, auth_acr`

// ScanIdentity reads a row of IdentityColumns.
func (r *Records) ScanIdentity(row Row) (store.IdentitySession, error) {
	var is store.IdentitySession
	f := r.f
	err := row.Scan(&is.ID, &is.Subject, &is.SecretHash, f.ScanTime(&is.AuthTime), f.ScanTime(&is.CreatedAt),
		f.ScanTime(&is.ExpiresAt), f.ScanTime(&is.EndedAt), &is.RemoteAddr, &is.UserAgent,
		&is.Auth.Provider, &is.Auth.Tenant, f.ScanStrings(&is.Auth.Methods), &is.Auth.ACR)
	if err != nil {
		return store.IdentitySession{}, err
	}
	is.Auth.Methods = OrNil(is.Auth.Methods)
	return is, nil
}

// SaveIdentitySession inserts or replaces is; an ended session cannot be
// replaced, nor one of another subject. One conditional upsert decides:
// if it changed nothing, the stored row (which can no longer become
// live again or change subject) says why.
func (s *Store) SaveIdentitySession(ctx context.Context, is store.IdentitySession) error {
	f := s.rec.f
	n, err := s.write.Exec(ctx, s.rec.q.saveIdentity,
		is.ID, is.Subject, is.SecretHash, f.NullTime(is.AuthTime), f.Time(is.CreatedAt), f.Time(is.ExpiresAt),
		f.NullTime(is.EndedAt), is.RemoteAddr, is.UserAgent, is.Auth.Provider, is.Auth.Tenant, f.Strings(is.Auth.Methods), is.Auth.ACR)
	if err != nil {
		return s.rec.Err("save identity session", err)
	}
	if n > 0 {
		return nil
	}
	old, err := s.IdentitySession(ctx, is.ID)
	switch {
	case err != nil:
		return err
	case !old.EndedAt.IsZero():
		return store.ErrSessionEnded
	case old.Subject != is.Subject:
		return store.ErrConflict
	}
	return s.rec.Errf("save identity session: refused, but the stored session is live and of the same subject")
}

// IdentitySession returns the session with id; store.ErrNotFound.
func (s *Store) IdentitySession(ctx context.Context, id string) (store.IdentitySession, error) {
	return one(s.rec, s.read.QueryRow(ctx, s.rec.q.identity, id), s.rec.ScanIdentity, "identity session", store.ErrNotFound)
}

// EndIdentitySession ends a live session at now; ended or unknown ones
// are left as they are.
func (s *Store) EndIdentitySession(ctx context.Context, id string, now time.Time) error {
	if _, err := s.write.Exec(ctx, s.rec.q.endIdentity, id, s.rec.f.Time(now)); err != nil {
		return s.rec.Err("end identity session", err)
	}
	return nil
}

// EndSubjectIdentitySessions ends every live session of subject at now
// in one statement (each row is ended once, by whichever statement gets
// it first) and returns their IDs, sorted.
func (s *Store) EndSubjectIdentitySessions(ctx context.Context, subject string, now time.Time) ([]string, error) {
	ids, err := list(ctx, s.rec, s.write, scanString, "end identity sessions", s.rec.q.endSubjectIdentities, subject, s.rec.f.Time(now))
	slices.Sort(ids)
	return ids, err
}

func scanString(row Row) (string, error) {
	var v string
	err := row.Scan(&v)
	return v, err
}

// IdentitySessionsOf lists the live sessions of subject at now, newest
// AuthTime first (ties by ID). A session with no AuthTime (NULL) sorts
// last, as the zero time would.
func (s *Store) IdentitySessionsOf(ctx context.Context, subject string, now time.Time) ([]store.IdentitySession, error) {
	return list(ctx, s.rec, s.read, s.rec.ScanIdentity, "identity sessions of a subject", s.rec.q.identitiesOf, subject, s.rec.f.Time(now))
}

// ConsentColumns are the columns of consents, in scanConsent's order.
const ConsentColumns = `subject, client_id, scopes, granted_at`

func (r *Records) scanConsent(row Row) (store.Consent, error) {
	var c store.Consent
	if err := row.Scan(&c.Subject, &c.ClientID, r.f.ScanStrings(&c.Scopes), r.f.ScanTime(&c.GrantedAt)); err != nil {
		return store.Consent{}, err
	}
	c.Scopes = OrNil(c.Scopes)
	return c, nil
}

// SaveConsent stores c, replacing the subject's consent for the app, in
// one statement: of concurrent saves the last to commit stands.
func (s *Store) SaveConsent(ctx context.Context, c store.Consent) error {
	if _, err := s.write.Exec(ctx, s.rec.q.saveConsent, c.Subject, c.ClientID, s.rec.f.Strings(c.Scopes), s.rec.f.Time(c.GrantedAt)); err != nil {
		return s.rec.Err("save consent", err)
	}
	return nil
}

// Consent returns the subject's consent for clientID; store.ErrNotFound.
func (s *Store) Consent(ctx context.Context, subject, clientID string) (store.Consent, error) {
	return one(s.rec, s.read.QueryRow(ctx, s.rec.q.consent, subject, clientID), s.rec.scanConsent, "consent", store.ErrNotFound)
}

// ConsentsOf lists the subject's consents, sorted by ClientID in byte
// order (SQLite compares TEXT bytewise; PostgreSQL's column is
// COLLATE "C").
func (s *Store) ConsentsOf(ctx context.Context, subject string) ([]store.Consent, error) {
	return list(ctx, s.rec, s.read, s.rec.scanConsent, "consents", s.rec.q.consentsOf, subject)
}

// RevokeConsent forgets the subject's consent for clientID, if any.
func (s *Store) RevokeConsent(ctx context.Context, subject, clientID string) error {
	if _, err := s.write.Exec(ctx, s.rec.q.revokeConsent, subject, clientID); err != nil {
		return s.rec.Err("revoke consent", err)
	}
	return nil
}

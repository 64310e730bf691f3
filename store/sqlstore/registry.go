package sqlstore

import (
	"context"
	"time"

	"github.com/erpgate/erpgate/directory"
	"github.com/erpgate/erpgate/store"
)

// AppColumns are the columns of apps, in ScanApp's order.
const AppColumns = `uri, name, public, secret_hash, system_user, scopes, redirect_uris, post_logout_redirect_uris,
	allow_internal_users, allow_community_users, reference_tokens, require_pkce, enabled, created_at, updated_at,
	consent_required, dpop_required, backchannel_logout_uri, backchannel_logout_sid, token_exchange,
	identity_providers, local_passwords, mfa_required`

// ScanApp reads a row of AppColumns. The column says local_passwords,
// as the config file does, so that a row stored before it existed (the
// default, true) keeps the password form.
func (r *Records) ScanApp(row Row) (directory.App, error) {
	var a directory.App
	var localPasswords bool
	f := r.f
	if err := row.Scan(&a.ID, &a.Name, &a.Public, &a.SecretHash, &a.SystemUser, f.ScanStrings(&a.Scopes),
		f.ScanStrings(&a.RedirectURIs), f.ScanStrings(&a.PostLogoutRedirectURIs), &a.AllowInternalUsers,
		&a.AllowCommunityUsers, &a.ReferenceTokens, &a.RequirePKCE, &a.Enabled, f.ScanTime(&a.CreatedAt),
		f.ScanTime(&a.UpdatedAt), &a.ConsentRequired, &a.DPoPRequired, &a.BackchannelLogoutURI, &a.BackchannelLogoutSID,
		&a.TokenExchange, f.ScanStrings(&a.IdentityProviders), &localPasswords, &a.MFARequired); err != nil {
		return directory.App{}, err
	}
	a.NoLocalPasswords = !localPasswords
	a.SecretHash, a.IdentityProviders = OrNil(a.SecretHash), OrNil(a.IdentityProviders)
	a.Scopes, a.RedirectURIs, a.PostLogoutRedirectURIs = OrNil(a.Scopes), OrNil(a.RedirectURIs), OrNil(a.PostLogoutRedirectURIs)
	return a, nil
}

// appArgs returns a's columns in AppColumns order. An empty secret hash
// is stored as NULL, so nil and empty read back alike.
func (r *Records) appArgs(a directory.App) []any {
	f := r.f
	return []any{a.ID, a.Name, a.Public, OrNil(a.SecretHash), a.SystemUser, f.Strings(a.Scopes),
		f.Strings(a.RedirectURIs), f.Strings(a.PostLogoutRedirectURIs), a.AllowInternalUsers, a.AllowCommunityUsers,
		a.ReferenceTokens, a.RequirePKCE, a.Enabled, f.Time(a.CreatedAt), f.Time(a.UpdatedAt), a.ConsentRequired,
		a.DPoPRequired, a.BackchannelLogoutURI, a.BackchannelLogoutSID, a.TokenExchange, f.Strings(a.IdentityProviders),
		!a.NoLocalPasswords, a.MFARequired}
}

// CreateApp stores a; store.ErrConflict if its URI exists.
func (s *Store) CreateApp(ctx context.Context, a directory.App) error {
	n, err := s.write.Exec(ctx, s.rec.q.createApp, s.rec.appArgs(a)...)
	return s.rec.changed(n, err, "create app", store.ErrConflict)
}

// App returns the app with uri; store.ErrNotFound.
func (s *Store) App(ctx context.Context, uri string) (directory.App, error) {
	return one(s.rec, s.read.QueryRow(ctx, s.rec.q.app, uri), s.rec.ScanApp, "app", store.ErrNotFound)
}

// Apps lists every app, oldest CreatedAt first (ties by URI).
func (s *Store) Apps(ctx context.Context) ([]directory.App, error) {
	return list(ctx, s.rec, s.read, s.rec.ScanApp, "apps", s.rec.q.apps)
}

// UpdateApp replaces every column of the app with a.ID but created_at;
// store.ErrNotFound if there is none. One statement: concurrent updates
// of one app are applied one after the other, the last one wins.
func (s *Store) UpdateApp(ctx context.Context, a directory.App) error {
	// appArgs without created_at (index 13), which is kept.
	args := s.rec.appArgs(a)
	args = append(args[:13:13], args[14:]...)
	n, err := s.write.Exec(ctx, s.rec.q.updateApp, args...)
	return s.rec.changed(n, err, "update app", store.ErrNotFound)
}

// AppsChangedSince lists apps with UpdatedAt >= since, oldest UpdatedAt
// first (ties by URI), so a poller's last entry is its next since.
func (s *Store) AppsChangedSince(ctx context.Context, since time.Time) ([]directory.App, error) {
	return list(ctx, s.rec, s.read, s.rec.ScanApp, "apps changed since", s.rec.q.appsSince, s.rec.f.Time(since))
}

// RefTokenColumns are the columns of reference_tokens, in ScanRefToken's
// order.
const RefTokenColumns = `id, hash, type, client_id, subject, scopes, created_at, created_by,
	expires_at, last_used_at, revoked_at, name, description`

// ScanRefToken reads a row of RefTokenColumns.
func (r *Records) ScanRefToken(row Row) (store.ReferenceToken, error) {
	var t store.ReferenceToken
	f := r.f
	if err := row.Scan(&t.ID, &t.Hash, &t.Type, &t.ClientID, &t.Subject, f.ScanStrings(&t.Scopes),
		f.ScanTime(&t.CreatedAt), &t.CreatedBy, f.ScanTime(&t.ExpiresAt), f.ScanTime(&t.LastUsedAt),
		f.ScanTime(&t.RevokedAt), &t.Name, &t.Description); err != nil {
		return store.ReferenceToken{}, err
	}
	t.Scopes = OrNil(t.Scopes)
	return t, nil
}

// SaveReferenceToken stores t; store.ErrConflict if its ID or hash
// exists (ON CONFLICT without a target covers both unique columns). Of
// concurrent saves of one hash, the unique index lets exactly one in.
func (s *Store) SaveReferenceToken(ctx context.Context, t store.ReferenceToken) error {
	f := s.rec.f
	n, err := s.write.Exec(ctx, s.rec.q.saveRefToken,
		t.ID, t.Hash, t.Type, t.ClientID, t.Subject, f.Strings(t.Scopes), f.Time(t.CreatedAt), t.CreatedBy,
		f.NullTime(t.ExpiresAt), f.NullTime(t.LastUsedAt), f.NullTime(t.RevokedAt), t.Name, t.Description)
	return s.rec.changed(n, err, "save reference token", store.ErrConflict)
}

// ReferenceTokenByHash returns the token with hash; store.ErrNotFound.
func (s *Store) ReferenceTokenByHash(ctx context.Context, hash string) (store.ReferenceToken, error) {
	return one(s.rec, s.read.QueryRow(ctx, s.rec.q.refTokenByHash, hash), s.rec.ScanRefToken, "reference token", store.ErrNotFound)
}

// ReferenceToken returns the token with id; store.ErrNotFound.
func (s *Store) ReferenceToken(ctx context.Context, id string) (store.ReferenceToken, error) {
	return one(s.rec, s.read.QueryRow(ctx, s.rec.q.refTokenByID, id), s.rec.ScanRefToken, "reference token", store.ErrNotFound)
}

// ReferenceTokens lists the tokens of subject, or all for "", oldest
// CreatedAt first (ties by ID).
func (s *Store) ReferenceTokens(ctx context.Context, subject string) ([]store.ReferenceToken, error) {
	if subject == "" {
		return list(ctx, s.rec, s.read, s.rec.ScanRefToken, "reference tokens", s.rec.q.refTokens)
	}
	return list(ctx, s.rec, s.read, s.rec.ScanRefToken, "reference tokens", s.rec.q.refTokensOf, subject)
}

// RevokeReferenceToken revokes the token with id at at, keeping an
// earlier RevokedAt, and returns it as stored; store.ErrNotFound. One
// statement: of concurrent revocations the first sets revoked_at, the
// others keep it.
func (s *Store) RevokeReferenceToken(ctx context.Context, id string, at time.Time) (store.ReferenceToken, error) {
	return one(s.rec, s.write.QueryRow(ctx, s.rec.q.revokeRefToken, s.rec.f.Time(at), id), s.rec.ScanRefToken,
		"revoke reference token", store.ErrNotFound)
}

// SavePasswordChange stores c, replacing the login's previous change, in
// one statement: of concurrent saves the last to commit stands.
func (s *Store) SavePasswordChange(ctx context.Context, c directory.PasswordChange) error {
	if _, err := s.write.Exec(ctx, s.rec.q.savePasswordChange, c.Login, c.Hash, c.Replaces, s.rec.f.Time(c.ChangedAt)); err != nil {
		return s.rec.Err("save password change", err)
	}
	return nil
}

func (r *Records) scanPasswordChange(row Row) (directory.PasswordChange, error) {
	var c directory.PasswordChange
	err := row.Scan(&c.Login, &c.Hash, &c.Replaces, r.f.ScanTime(&c.ChangedAt))
	return c, err
}

// PasswordChangesSince lists changes with ChangedAt >= since, oldest
// ChangedAt first (ties by login).
func (s *Store) PasswordChangesSince(ctx context.Context, since time.Time) ([]directory.PasswordChange, error) {
	return list(ctx, s.rec, s.read, s.rec.scanPasswordChange, "password changes since", s.rec.q.passwordChangesSince, s.rec.f.Time(since))
}

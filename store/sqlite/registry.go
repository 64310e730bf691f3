package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"github.com/erpgate/erpgate/directory"
	"maps"
	"slices"
	"time"

	"github.com/erpgate/erpgate/store"
)

var _ store.Registry = (*Store)(nil)

const appColumns = `uri, name, public, secret_hash, system_user, scopes, redirect_uris, post_logout_redirect_uris,
	allow_internal_users, allow_community_users, reference_tokens, require_pkce, enabled, created_at, updated_at,
	consent_required`

func scanApp(row scanner) (directory.App, error) {
	var a directory.App
	var scopes, redirects, postLogout string
	var created, updated int64
	if err := row.Scan(&a.ID, &a.Name, &a.Public, &a.SecretHash, &a.SystemUser, &scopes, &redirects, &postLogout,
		&a.AllowInternalUsers, &a.AllowCommunityUsers, &a.ReferenceTokens, &a.RequirePKCE, &a.Enabled,
		&created, &updated, &a.ConsentRequired); err != nil {
		return directory.App{}, err
	}
	var err error
	if a.Scopes, err = decodeStrings(scopes); err != nil {
		return directory.App{}, err
	}
	if a.RedirectURIs, err = decodeStrings(redirects); err != nil {
		return directory.App{}, err
	}
	if a.PostLogoutRedirectURIs, err = decodeStrings(postLogout); err != nil {
		return directory.App{}, err
	}
	a.SecretHash = nilIfEmpty(a.SecretHash)
	a.CreatedAt, a.UpdatedAt = fromMillis(created), fromMillis(updated)
	return a, nil
}

// appArgs returns a's columns in appColumns order.
func appArgs(a directory.App) ([]any, error) {
	scopes, err := encodeStrings(a.Scopes)
	if err != nil {
		return nil, err
	}
	redirects, err := encodeStrings(a.RedirectURIs)
	if err != nil {
		return nil, err
	}
	postLogout, err := encodeStrings(a.PostLogoutRedirectURIs)
	if err != nil {
		return nil, err
	}
	return []any{a.ID, a.Name, a.Public, nilIfEmpty(a.SecretHash), a.SystemUser, scopes, redirects, postLogout,
		a.AllowInternalUsers, a.AllowCommunityUsers, a.ReferenceTokens, a.RequirePKCE, a.Enabled,
		millis(a.CreatedAt), millis(a.UpdatedAt), a.ConsentRequired}, nil
}

func (s *Store) queryApps(ctx context.Context, what, where string, args ...any) ([]directory.App, error) {
	rows, err := s.reader.QueryContext(ctx, "SELECT "+appColumns+" FROM apps "+where, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: %s: %w", what, err)
	}
	defer rows.Close()
	var out []directory.App
	for rows.Next() {
		a, err := scanApp(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: %s: %w", what, err)
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: %s: %w", what, err)
	}
	return out, nil
}

// CreateApp stores a; store.ErrConflict if its URI exists.
func (s *Store) CreateApp(ctx context.Context, a directory.App) error {
	args, err := appArgs(a)
	if err != nil {
		return fmt.Errorf("sqlite: create app: %w", err)
	}
	res, err := s.writer.ExecContext(ctx, `INSERT INTO apps (`+appColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (uri) DO NOTHING`, args...)
	if err != nil {
		return fmt.Errorf("sqlite: create app: %w", err)
	}
	return conflictUnlessInserted(res, "create app")
}

// App returns the app with uri; store.ErrNotFound.
func (s *Store) App(ctx context.Context, uri string) (directory.App, error) {
	a, err := scanApp(s.reader.QueryRowContext(ctx, "SELECT "+appColumns+" FROM apps WHERE uri = ?", uri))
	if errors.Is(err, sql.ErrNoRows) {
		return directory.App{}, store.ErrNotFound
	}
	if err != nil {
		return directory.App{}, fmt.Errorf("sqlite: app: %w", err)
	}
	return a, nil
}

// Apps lists every app, oldest CreatedAt first (ties by URI).
func (s *Store) Apps(ctx context.Context) ([]directory.App, error) {
	return s.queryApps(ctx, "apps", "ORDER BY created_at, uri")
}

// UpdateApp replaces every column of the app with a.ID but created_at;
// store.ErrNotFound if there is none.
func (s *Store) UpdateApp(ctx context.Context, a directory.App) error {
	args, err := appArgs(a)
	if err != nil {
		return fmt.Errorf("sqlite: update app: %w", err)
	}
	// args[0] is the URI and args[13] created_at, which is kept.
	res, err := s.writer.ExecContext(ctx, `UPDATE apps SET
			name = ?2, public = ?3, secret_hash = ?4, system_user = ?5, scopes = ?6, redirect_uris = ?7,
			post_logout_redirect_uris = ?8, allow_internal_users = ?9, allow_community_users = ?10,
			reference_tokens = ?11, require_pkce = ?12, enabled = ?13, updated_at = ?15, consent_required = ?16
		WHERE uri = ?1`, args...)
	if err != nil {
		return fmt.Errorf("sqlite: update app: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("sqlite: update app: %w", err)
	}
	if n == 0 {
		return store.ErrNotFound
	}
	return nil
}

// AppsChangedSince lists apps with UpdatedAt >= since, oldest UpdatedAt
// first (ties by URI), so a poller's last entry is its next since.
func (s *Store) AppsChangedSince(ctx context.Context, since time.Time) ([]directory.App, error) {
	return s.queryApps(ctx, "apps changed since", "WHERE updated_at >= ? ORDER BY updated_at, uri", millis(since))
}

const refTokenColumns = `id, hash, type, client_id, subject, scopes, created_at, created_by,
	expires_at, last_used_at, revoked_at, name, description`

func scanRefToken(row scanner) (store.ReferenceToken, error) {
	var t store.ReferenceToken
	var scopes string
	var created int64
	var expires, lastUsed, revoked sql.NullInt64
	if err := row.Scan(&t.ID, &t.Hash, &t.Type, &t.ClientID, &t.Subject, &scopes, &created, &t.CreatedBy,
		&expires, &lastUsed, &revoked, &t.Name, &t.Description); err != nil {
		return store.ReferenceToken{}, err
	}
	var err error
	if t.Scopes, err = decodeStrings(scopes); err != nil {
		return store.ReferenceToken{}, err
	}
	t.CreatedAt, t.ExpiresAt = fromMillis(created), fromNullMillis(expires)
	t.LastUsedAt, t.RevokedAt = fromNullMillis(lastUsed), fromNullMillis(revoked)
	return t, nil
}

// getRefToken reads the token whose column key (id or hash) is value.
func (s *Store) getRefToken(ctx context.Context, key, value string) (store.ReferenceToken, error) {
	t, err := scanRefToken(s.reader.QueryRowContext(ctx,
		"SELECT "+refTokenColumns+" FROM reference_tokens WHERE "+key+" = ?", value))
	if errors.Is(err, sql.ErrNoRows) {
		return store.ReferenceToken{}, store.ErrNotFound
	}
	if err != nil {
		return store.ReferenceToken{}, fmt.Errorf("sqlite: reference token: %w", err)
	}
	return t, nil
}

// SaveReferenceToken stores t; store.ErrConflict if its ID or hash
// exists (ON CONFLICT without a target covers both unique columns).
func (s *Store) SaveReferenceToken(ctx context.Context, t store.ReferenceToken) error {
	scopes, err := encodeStrings(t.Scopes)
	if err != nil {
		return fmt.Errorf("sqlite: save reference token: %w", err)
	}
	res, err := s.writer.ExecContext(ctx, `INSERT INTO reference_tokens (`+refTokenColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
		t.ID, t.Hash, t.Type, t.ClientID, t.Subject, scopes, millis(t.CreatedAt), t.CreatedBy,
		nullMillis(t.ExpiresAt), nullMillis(t.LastUsedAt), nullMillis(t.RevokedAt), t.Name, t.Description)
	if err != nil {
		return fmt.Errorf("sqlite: save reference token: %w", err)
	}
	return conflictUnlessInserted(res, "save reference token")
}

// ReferenceTokenByHash returns the token with hash; store.ErrNotFound.
func (s *Store) ReferenceTokenByHash(ctx context.Context, hash string) (store.ReferenceToken, error) {
	return s.getRefToken(ctx, "hash", hash)
}

// ReferenceToken returns the token with id; store.ErrNotFound.
func (s *Store) ReferenceToken(ctx context.Context, id string) (store.ReferenceToken, error) {
	return s.getRefToken(ctx, "id", id)
}

// ReferenceTokens lists the tokens of subject, or all for "", oldest
// CreatedAt first (ties by ID).
func (s *Store) ReferenceTokens(ctx context.Context, subject string) ([]store.ReferenceToken, error) {
	query, args := "SELECT "+refTokenColumns+" FROM reference_tokens ORDER BY created_at, id", []any(nil)
	if subject != "" {
		query = "SELECT " + refTokenColumns + " FROM reference_tokens WHERE subject = ? ORDER BY created_at, id"
		args = []any{subject}
	}
	rows, err := s.reader.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: reference tokens: %w", err)
	}
	defer rows.Close()
	var out []store.ReferenceToken
	for rows.Next() {
		t, err := scanRefToken(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: reference tokens: %w", err)
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: reference tokens: %w", err)
	}
	return out, nil
}

// RevokeReferenceToken revokes the token with id at at, keeping an
// earlier RevokedAt, and returns it as stored; store.ErrNotFound. One
// statement, so it needs no transaction.
func (s *Store) RevokeReferenceToken(ctx context.Context, id string, at time.Time) (store.ReferenceToken, error) {
	t, err := scanRefToken(s.writer.QueryRowContext(ctx, `UPDATE reference_tokens
		SET revoked_at = coalesce(revoked_at, ?) WHERE id = ? RETURNING `+refTokenColumns, millis(at), id))
	if errors.Is(err, sql.ErrNoRows) {
		return store.ReferenceToken{}, store.ErrNotFound
	}
	if err != nil {
		return store.ReferenceToken{}, fmt.Errorf("sqlite: revoke reference token: %w", err)
	}
	return t, nil
}

// TouchReferenceTokens moves LastUsedAt forward for the tokens in used,
// all in one transaction: one fsync per flush, not per token.
func (s *Store) TouchReferenceTokens(ctx context.Context, used map[string]time.Time) error {
	if len(used) == 0 {
		return nil
	}
	return s.inTx(ctx, func(ctx context.Context, tx *writeTx) error {
		stmt, err := tx.PrepareContext(ctx, `UPDATE reference_tokens SET last_used_at = ?1
			WHERE id = ?2 AND (last_used_at IS NULL OR last_used_at < ?1)`)
		if err != nil {
			return fmt.Errorf("sqlite: touch reference tokens: %w", err)
		}
		defer stmt.Close()
		// Sorted as in TouchSessions.
		for _, id := range slices.Sorted(maps.Keys(used)) {
			at := used[id]
			if at.IsZero() {
				continue // "never used" is not a use
			}
			if _, err := stmt.ExecContext(ctx, millis(at), id); err != nil {
				return fmt.Errorf("sqlite: touch reference tokens: %w", err)
			}
		}
		return nil
	})
}

// SavePasswordChange stores c, replacing the login's previous change, in
// one statement.
func (s *Store) SavePasswordChange(ctx context.Context, c directory.PasswordChange) error {
	if _, err := s.writer.ExecContext(ctx, `INSERT INTO password_changes (login, hash, replaces, changed_at)
		VALUES (?, ?, ?, ?)
		ON CONFLICT (login) DO UPDATE SET hash = excluded.hash, replaces = excluded.replaces, changed_at = excluded.changed_at`,
		c.Login, c.Hash, c.Replaces, millis(c.ChangedAt)); err != nil {
		return fmt.Errorf("sqlite: save password change: %w", err)
	}
	return nil
}

// PasswordChangesSince lists changes with ChangedAt >= since, oldest
// ChangedAt first (ties by login).
func (s *Store) PasswordChangesSince(ctx context.Context, since time.Time) ([]directory.PasswordChange, error) {
	rows, err := s.reader.QueryContext(ctx, `SELECT login, hash, replaces, changed_at FROM password_changes
		WHERE changed_at >= ? ORDER BY changed_at, login`, millis(since))
	if err != nil {
		return nil, fmt.Errorf("sqlite: password changes since: %w", err)
	}
	defer rows.Close()
	var out []directory.PasswordChange
	for rows.Next() {
		var c directory.PasswordChange
		var changed int64
		if err := rows.Scan(&c.Login, &c.Hash, &c.Replaces, &changed); err != nil {
			return nil, fmt.Errorf("sqlite: password changes since: %w", err)
		}
		c.ChangedAt = fromMillis(changed)
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: password changes since: %w", err)
	}
	return out, nil
}

// nilIfEmpty makes an empty byte slice nil, so nil and empty are stored
// alike (NULL) and read back alike (nil).
func nilIfEmpty(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}

package postgres

import (
	"context"
	"errors"
	"fmt"
	"github.com/erpgate/erpgate/directory"
	"maps"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/erpgate/erpgate/store"
)

var _ store.Registry = (*Store)(nil)

const appColumns = `uri, name, public, secret_hash, system_user, scopes, redirect_uris, post_logout_redirect_uris,
	allow_internal_users, allow_community_users, reference_tokens, require_pkce, enabled, created_at, updated_at,
	consent_required`

func scanApp(row scanner) (directory.App, error) {
	var a directory.App
	var created, updated pgtype.Timestamptz
	if err := row.Scan(&a.ID, &a.Name, &a.Public, &a.SecretHash, &a.SystemUser, &a.Scopes, &a.RedirectURIs,
		&a.PostLogoutRedirectURIs, &a.AllowInternalUsers, &a.AllowCommunityUsers, &a.ReferenceTokens,
		&a.RequirePKCE, &a.Enabled, &created, &updated, &a.ConsentRequired); err != nil {
		return directory.App{}, err
	}
	a.SecretHash = orNil(a.SecretHash)
	a.Scopes, a.RedirectURIs, a.PostLogoutRedirectURIs = orNil(a.Scopes), orNil(a.RedirectURIs), orNil(a.PostLogoutRedirectURIs)
	a.CreatedAt, a.UpdatedAt = fromTS(created), fromTS(updated)
	return a, nil
}

// appArgs returns a's columns in appColumns order. An empty secret hash
// is stored as NULL, so nil and empty read back alike.
func appArgs(a directory.App) []any {
	return []any{a.ID, a.Name, a.Public, orNil(a.SecretHash), a.SystemUser, nonNil(a.Scopes),
		nonNil(a.RedirectURIs), nonNil(a.PostLogoutRedirectURIs), a.AllowInternalUsers, a.AllowCommunityUsers,
		a.ReferenceTokens, a.RequirePKCE, a.Enabled, ts(a.CreatedAt), ts(a.UpdatedAt), a.ConsentRequired}
}

func (s *Store) queryApps(ctx context.Context, what, where string, args ...any) ([]directory.App, error) {
	rows, err := s.pool.Query(ctx, "SELECT "+appColumns+" FROM apps "+where, args...)
	if err != nil {
		return nil, fmt.Errorf("postgres: %s: %w", what, err)
	}
	defer rows.Close()
	var out []directory.App
	for rows.Next() {
		a, err := scanApp(rows)
		if err != nil {
			return nil, fmt.Errorf("postgres: %s: %w", what, err)
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: %s: %w", what, err)
	}
	return out, nil
}

// CreateApp stores a; store.ErrConflict if its URI exists.
func (s *Store) CreateApp(ctx context.Context, a directory.App) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO apps (`+appColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)`, appArgs(a)...)
	return insertErr(err, "create app")
}

// App returns the app with uri; store.ErrNotFound.
func (s *Store) App(ctx context.Context, uri string) (directory.App, error) {
	a, err := scanApp(s.pool.QueryRow(ctx, "SELECT "+appColumns+" FROM apps WHERE uri = $1", uri))
	if errors.Is(err, pgx.ErrNoRows) {
		return directory.App{}, store.ErrNotFound
	}
	if err != nil {
		return directory.App{}, fmt.Errorf("postgres: app: %w", err)
	}
	return a, nil
}

// Apps lists every app, oldest CreatedAt first (ties by URI).
func (s *Store) Apps(ctx context.Context) ([]directory.App, error) {
	return s.queryApps(ctx, "apps", "ORDER BY created_at, uri")
}

// UpdateApp replaces every column of the app with a.ID but created_at;
// store.ErrNotFound if there is none. One statement: concurrent updates
// of one app are applied one after the other, the last one wins.
func (s *Store) UpdateApp(ctx context.Context, a directory.App) error {
	// appArgs without created_at (index 13), which is kept.
	args := appArgs(a)
	args = append(args[:13:13], args[14:]...)
	tag, err := s.pool.Exec(ctx, `UPDATE apps SET
			name = $2, public = $3, secret_hash = $4, system_user = $5, scopes = $6, redirect_uris = $7,
			post_logout_redirect_uris = $8, allow_internal_users = $9, allow_community_users = $10,
			reference_tokens = $11, require_pkce = $12, enabled = $13, updated_at = $14, consent_required = $15
		WHERE uri = $1`, args...)
	if err != nil {
		return fmt.Errorf("postgres: update app: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return store.ErrNotFound
	}
	return nil
}

// AppsChangedSince lists apps with UpdatedAt >= since, oldest UpdatedAt
// first (ties by URI), so a poller's last entry is its next since.
func (s *Store) AppsChangedSince(ctx context.Context, since time.Time) ([]directory.App, error) {
	return s.queryApps(ctx, "apps changed since", "WHERE updated_at >= $1 ORDER BY updated_at, uri", ts(since))
}

// SavePasswordChange stores c, replacing the login's previous change, in
// one statement: of concurrent saves the last to commit stands. The
// trigger of migration 0006 notifies the apps topic.
func (s *Store) SavePasswordChange(ctx context.Context, c directory.PasswordChange) error {
	if _, err := s.pool.Exec(ctx, `INSERT INTO password_changes (login, hash, replaces, changed_at)
		VALUES ($1, $2, $3, $4)
		ON CONFLICT (login) DO UPDATE SET hash = excluded.hash, replaces = excluded.replaces, changed_at = excluded.changed_at`,
		c.Login, c.Hash, c.Replaces, ts(c.ChangedAt)); err != nil {
		return fmt.Errorf("postgres: save password change: %w", err)
	}
	return nil
}

// PasswordChangesSince lists changes with ChangedAt >= since, oldest
// ChangedAt first (ties by login).
func (s *Store) PasswordChangesSince(ctx context.Context, since time.Time) ([]directory.PasswordChange, error) {
	rows, err := s.pool.Query(ctx, `SELECT login, hash, replaces, changed_at FROM password_changes
		WHERE changed_at >= $1 ORDER BY changed_at, login`, ts(since))
	if err != nil {
		return nil, fmt.Errorf("postgres: password changes since: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (directory.PasswordChange, error) {
		var c directory.PasswordChange
		var changed pgtype.Timestamptz
		err := row.Scan(&c.Login, &c.Hash, &c.Replaces, &changed)
		c.ChangedAt = fromTS(changed)
		return c, err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: password changes since: %w", err)
	}
	return out, nil
}

const refTokenColumns = `id, hash, type, client_id, subject, scopes, created_at, created_by,
	expires_at, last_used_at, revoked_at, name, description`

func scanRefToken(row scanner) (store.ReferenceToken, error) {
	var t store.ReferenceToken
	var created, expires, lastUsed, revoked pgtype.Timestamptz
	if err := row.Scan(&t.ID, &t.Hash, &t.Type, &t.ClientID, &t.Subject, &t.Scopes, &created, &t.CreatedBy,
		&expires, &lastUsed, &revoked, &t.Name, &t.Description); err != nil {
		return store.ReferenceToken{}, err
	}
	t.Scopes = orNil(t.Scopes)
	t.CreatedAt, t.ExpiresAt = fromTS(created), fromTS(expires)
	t.LastUsedAt, t.RevokedAt = fromTS(lastUsed), fromTS(revoked)
	return t, nil
}

// getRefToken reads the token whose column key (id or hash) is value.
func (s *Store) getRefToken(ctx context.Context, key, value string) (store.ReferenceToken, error) {
	t, err := scanRefToken(s.pool.QueryRow(ctx,
		"SELECT "+refTokenColumns+" FROM reference_tokens WHERE "+key+" = $1", value))
	if errors.Is(err, pgx.ErrNoRows) {
		return store.ReferenceToken{}, store.ErrNotFound
	}
	if err != nil {
		return store.ReferenceToken{}, fmt.Errorf("postgres: reference token: %w", err)
	}
	return t, nil
}

// SaveReferenceToken stores t; store.ErrConflict if its ID or hash
// exists (either unique index's violation). Of concurrent saves of one
// hash, the unique index lets exactly one commit.
func (s *Store) SaveReferenceToken(ctx context.Context, t store.ReferenceToken) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO reference_tokens (`+refTokenColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
		t.ID, t.Hash, t.Type, t.ClientID, t.Subject, nonNil(t.Scopes), ts(t.CreatedAt), t.CreatedBy,
		nullTS(t.ExpiresAt), nullTS(t.LastUsedAt), nullTS(t.RevokedAt), t.Name, t.Description)
	return insertErr(err, "save reference token")
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
	rows, err := s.pool.Query(ctx, "SELECT "+refTokenColumns+` FROM reference_tokens
		WHERE $1 = '' OR subject = $1 ORDER BY created_at, id`, subject)
	if err != nil {
		return nil, fmt.Errorf("postgres: reference tokens: %w", err)
	}
	defer rows.Close()
	var out []store.ReferenceToken
	for rows.Next() {
		t, err := scanRefToken(rows)
		if err != nil {
			return nil, fmt.Errorf("postgres: reference tokens: %w", err)
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: reference tokens: %w", err)
	}
	return out, nil
}

// RevokeReferenceToken revokes the token with id at at, keeping an
// earlier RevokedAt, and returns it as stored; store.ErrNotFound. One
// statement: of concurrent revocations the first to lock the row sets
// revoked_at, the others keep it.
func (s *Store) RevokeReferenceToken(ctx context.Context, id string, at time.Time) (store.ReferenceToken, error) {
	t, err := scanRefToken(s.pool.QueryRow(ctx, `UPDATE reference_tokens
		SET revoked_at = coalesce(revoked_at, $1) WHERE id = $2 RETURNING `+refTokenColumns, ts(at), id))
	if errors.Is(err, pgx.ErrNoRows) {
		return store.ReferenceToken{}, store.ErrNotFound
	}
	if err != nil {
		return store.ReferenceToken{}, fmt.Errorf("postgres: revoke reference token: %w", err)
	}
	return t, nil
}

// TouchReferenceTokens moves LastUsedAt forward for the tokens in used,
// in one statement over the ids in sorted order (as TouchSessions), so
// two replicas flushing at once lock rows in the same order.
func (s *Store) TouchReferenceTokens(ctx context.Context, used map[string]time.Time) error {
	ids := make([]string, 0, len(used))
	times := make([]time.Time, 0, len(used))
	for _, id := range slices.Sorted(maps.Keys(used)) {
		if at := used[id]; !at.IsZero() { // "never used" is not a use
			ids = append(ids, id)
			times = append(times, ts(at))
		}
	}
	if len(ids) == 0 {
		return nil
	}
	return s.execTx(ctx, "touch reference tokens", `UPDATE reference_tokens AS t SET last_used_at = u.at
		FROM (SELECT id, at FROM unnest($1::text[], $2::timestamptz[]) AS u(id, at) ORDER BY id) AS u
		WHERE t.id = u.id COLLATE "C" AND (t.last_used_at IS NULL OR t.last_used_at < u.at)`, ids, times)
}

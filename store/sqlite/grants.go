package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/erpgate/erpgate/store"
)

// rowQuerier is the read pool or a write transaction.
type rowQuerier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// encodeStrings stores a string list (scopes, redirect URIs) as a JSON
// array, so any value round-trips; nil and empty are both "[]".
func encodeStrings(list []string) (string, error) {
	if len(list) == 0 {
		return "[]", nil
	}
	b, err := json.Marshal(list)
	return string(b), err
}

// decodeStrings reads a stored array back; empty comes back nil.
func decodeStrings(s string) ([]string, error) {
	var out []string
	if err := json.Unmarshal([]byte(s), &out); err != nil {
		return nil, fmt.Errorf("string list %q: %w", s, err)
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

const authCodeColumns = `hash, client_id, subject, redirect_uri, scopes, nonce, code_challenge, session_id,
	auth_time, created_at, expires_at, used_at, access_token_id, access_expires_at`

func scanAuthCode(row scanner) (store.AuthCode, error) {
	var c store.AuthCode
	var scopes string
	var created, expires int64
	var authTime, used, accessExpires sql.NullInt64
	if err := row.Scan(&c.Hash, &c.ClientID, &c.Subject, &c.RedirectURI, &scopes, &c.Nonce, &c.CodeChallenge,
		&c.SessionID, &authTime, &created, &expires, &used, &c.AccessTokenID, &accessExpires); err != nil {
		return store.AuthCode{}, err
	}
	var err error
	if c.Scopes, err = decodeStrings(scopes); err != nil {
		return store.AuthCode{}, err
	}
	c.AuthTime, c.CreatedAt, c.ExpiresAt = fromNullMillis(authTime), fromMillis(created), fromMillis(expires)
	c.UsedAt, c.AccessExpiresAt = fromNullMillis(used), fromNullMillis(accessExpires)
	return c, nil
}

func getAuthCode(ctx context.Context, q rowQuerier, hash string) (store.AuthCode, error) {
	c, err := scanAuthCode(q.QueryRowContext(ctx, "SELECT "+authCodeColumns+" FROM auth_codes WHERE hash = ?", hash))
	if errors.Is(err, sql.ErrNoRows) {
		return store.AuthCode{}, store.ErrNotFound
	}
	if err != nil {
		return store.AuthCode{}, fmt.Errorf("sqlite: auth code: %w", err)
	}
	return c, nil
}

// SaveAuthCode stores c; store.ErrConflict if its hash exists.
func (s *Store) SaveAuthCode(ctx context.Context, c store.AuthCode) error {
	scopes, err := encodeStrings(c.Scopes)
	if err != nil {
		return fmt.Errorf("sqlite: save auth code: %w", err)
	}
	return s.inTx(ctx, func(ctx context.Context, tx *writeTx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO auth_codes (`+authCodeColumns+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (hash) DO NOTHING`,
			c.Hash, c.ClientID, c.Subject, c.RedirectURI, scopes, c.Nonce, c.CodeChallenge, c.SessionID,
			nullMillis(c.AuthTime), millis(c.CreatedAt), millis(c.ExpiresAt), nullMillis(c.UsedAt),
			c.AccessTokenID, nullMillis(c.AccessExpiresAt))
		if err != nil {
			return fmt.Errorf("sqlite: save auth code: %w", err)
		}
		return conflictUnlessInserted(res, "save auth code")
	})
}

// RedeemAuthCode marks the code used and returns it as it was; a used
// one comes back as stored with store.ErrCodeReused. The read and the
// update share one IMMEDIATE transaction, so one caller wins.
func (s *Store) RedeemAuthCode(ctx context.Context, hash string, now time.Time, accessTokenID string, accessExpiresAt time.Time) (store.AuthCode, error) {
	var out store.AuthCode
	err := s.inTx(ctx, func(ctx context.Context, tx *writeTx) error {
		c, err := getAuthCode(ctx, tx, hash)
		if err != nil {
			return err
		}
		out = c
		if !c.UsedAt.IsZero() {
			return store.ErrCodeReused
		}
		if _, err := tx.ExecContext(ctx,
			"UPDATE auth_codes SET used_at = ?, access_token_id = ?, access_expires_at = ? WHERE hash = ?",
			millis(now), accessTokenID, nullMillis(accessExpiresAt), hash); err != nil {
			return fmt.Errorf("sqlite: redeem auth code: %w", err)
		}
		return nil
	})
	switch {
	case errors.Is(err, store.ErrCodeReused):
		return out, err
	case err != nil:
		return store.AuthCode{}, err
	}
	return out, nil
}

// DeleteExpiredAuthCodes forgets codes whose ExpiresAt is before now.
func (s *Store) DeleteExpiredAuthCodes(ctx context.Context, now time.Time) error {
	if _, err := s.writer.ExecContext(ctx, "DELETE FROM auth_codes WHERE expires_at < ?", millis(now)); err != nil {
		return fmt.Errorf("sqlite: delete expired auth codes: %w", err)
	}
	return nil
}

const refreshColumns = `hash, family_id, client_id, subject, session_id, scopes, auth_time, created_at, expires_at,
	access_token_id, access_expires_at, rotated_at, successor, revoked_at`

func scanRefresh(row scanner) (store.RefreshToken, error) {
	var t store.RefreshToken
	var scopes string
	var created, expires int64
	var authTime, accessExpires, rotated, revoked sql.NullInt64
	if err := row.Scan(&t.Hash, &t.FamilyID, &t.ClientID, &t.Subject, &t.SessionID, &scopes, &authTime,
		&created, &expires, &t.AccessTokenID, &accessExpires, &rotated, &t.Successor, &revoked); err != nil {
		return store.RefreshToken{}, err
	}
	var err error
	if t.Scopes, err = decodeStrings(scopes); err != nil {
		return store.RefreshToken{}, err
	}
	t.AuthTime, t.CreatedAt, t.ExpiresAt = fromNullMillis(authTime), fromMillis(created), fromMillis(expires)
	t.AccessExpiresAt, t.RotatedAt, t.RevokedAt = fromNullMillis(accessExpires), fromNullMillis(rotated), fromNullMillis(revoked)
	return t, nil
}

func getRefresh(ctx context.Context, q rowQuerier, hash string) (store.RefreshToken, error) {
	t, err := scanRefresh(q.QueryRowContext(ctx, "SELECT "+refreshColumns+" FROM refresh_tokens WHERE hash = ?", hash))
	if errors.Is(err, sql.ErrNoRows) {
		return store.RefreshToken{}, store.ErrNotFound
	}
	if err != nil {
		return store.RefreshToken{}, fmt.Errorf("sqlite: refresh token: %w", err)
	}
	return t, nil
}

// insertRefresh inserts t in tx; store.ErrConflict if its hash exists.
func insertRefresh(ctx context.Context, tx *writeTx, t store.RefreshToken) error {
	scopes, err := encodeStrings(t.Scopes)
	if err != nil {
		return fmt.Errorf("sqlite: save refresh token: %w", err)
	}
	res, err := tx.ExecContext(ctx, `INSERT INTO refresh_tokens (`+refreshColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (hash) DO NOTHING`,
		t.Hash, t.FamilyID, t.ClientID, t.Subject, t.SessionID, scopes, nullMillis(t.AuthTime),
		millis(t.CreatedAt), millis(t.ExpiresAt), t.AccessTokenID, nullMillis(t.AccessExpiresAt),
		nullMillis(t.RotatedAt), nonNil(t.Successor), nullMillis(t.RevokedAt))
	if err != nil {
		return fmt.Errorf("sqlite: save refresh token: %w", err)
	}
	return conflictUnlessInserted(res, "save refresh token")
}

// SaveRefreshToken stores t; store.ErrConflict if its hash exists.
func (s *Store) SaveRefreshToken(ctx context.Context, t store.RefreshToken) error {
	return s.inTx(ctx, func(ctx context.Context, tx *writeTx) error { return insertRefresh(ctx, tx, t) })
}

// RefreshToken returns the token with hash; store.ErrNotFound.
func (s *Store) RefreshToken(ctx context.Context, hash string) (store.RefreshToken, error) {
	return getRefresh(ctx, s.reader, hash)
}

// RotateRefreshToken implements store.RefreshTokens: the check, the mark
// and the insert share one IMMEDIATE transaction, so one caller wins.
func (s *Store) RotateRefreshToken(ctx context.Context, hash string, now time.Time, successor []byte, next store.RefreshToken) (store.RefreshToken, error) {
	var out store.RefreshToken
	err := s.inTx(ctx, func(ctx context.Context, tx *writeTx) error {
		cur, err := getRefresh(ctx, tx, hash)
		if err != nil {
			return err
		}
		out = cur
		switch {
		case !cur.RevokedAt.IsZero():
			return store.ErrRevoked
		case !cur.RotatedAt.IsZero():
			return store.ErrRotated
		}
		next.FamilyID = cur.FamilyID
		if err := insertRefresh(ctx, tx, next); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "UPDATE refresh_tokens SET rotated_at = ?, successor = ? WHERE hash = ?",
			millis(now), nonNil(successor), hash); err != nil {
			return fmt.Errorf("sqlite: rotate refresh token: %w", err)
		}
		out.RotatedAt, out.Successor = fromMillis(millis(now)), bytes.Clone(successor)
		return nil
	})
	switch {
	case errors.Is(err, store.ErrRevoked), errors.Is(err, store.ErrRotated):
		return out, err
	case err != nil:
		return store.RefreshToken{}, err
	}
	return out, nil
}

// RevokeRefreshFamily revokes the family and returns its access tokens.
func (s *Store) RevokeRefreshFamily(ctx context.Context, familyID string, now time.Time) ([]store.IssuedToken, error) {
	return s.revokeFamilies(ctx, "?", familyID, now)
}

// RevokeSessionRefreshTokens revokes the families with a token of the
// session and returns their access tokens.
func (s *Store) RevokeSessionRefreshTokens(ctx context.Context, sessionID string, now time.Time) ([]store.IssuedToken, error) {
	return s.revokeFamilies(ctx, "SELECT family_id FROM refresh_tokens WHERE session_id = ?", sessionID, now)
}

// RevokeSubjectRefreshTokens revokes the families with a token of the
// subject and returns their access tokens.
func (s *Store) RevokeSubjectRefreshTokens(ctx context.Context, subject string, now time.Time) ([]store.IssuedToken, error) {
	return s.revokeFamilies(ctx, "SELECT family_id FROM refresh_tokens WHERE subject = ?", subject, now)
}

// revokeFamilies revokes the families listed by families (an SQL list
// element or subquery with one parameter, arg) and returns the access
// tokens of all their tokens, oldest token first, in one transaction.
func (s *Store) revokeFamilies(ctx context.Context, families, arg string, now time.Time) ([]store.IssuedToken, error) {
	var out []store.IssuedToken
	err := s.inTx(ctx, func(ctx context.Context, tx *writeTx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE refresh_tokens SET revoked_at = ?
			WHERE revoked_at IS NULL AND family_id IN (`+families+`)`, millis(now), arg); err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, `SELECT access_token_id, access_expires_at FROM refresh_tokens
			WHERE access_token_id <> '' AND family_id IN (`+families+`)
			ORDER BY created_at, hash`, arg)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var it store.IssuedToken
			var exp sql.NullInt64
			if err := rows.Scan(&it.ID, &exp); err != nil {
				return err
			}
			it.ExpiresAt = fromNullMillis(exp)
			out = append(out, it)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("sqlite: revoke refresh tokens: %w", err)
	}
	return out, nil
}

// DeleteExpiredRefreshTokens forgets tokens whose ExpiresAt is before now.
func (s *Store) DeleteExpiredRefreshTokens(ctx context.Context, now time.Time) error {
	if _, err := s.writer.ExecContext(ctx, "DELETE FROM refresh_tokens WHERE expires_at < ?", millis(now)); err != nil {
		return fmt.Errorf("sqlite: delete expired refresh tokens: %w", err)
	}
	return nil
}

const identityColumns = `id, subject, secret_hash, auth_time, created_at, expires_at, ended_at, remote_addr, user_agent`

func scanIdentity(row scanner) (store.IdentitySession, error) {
	var is store.IdentitySession
	var created, expires int64
	var authTime, ended sql.NullInt64
	if err := row.Scan(&is.ID, &is.Subject, &is.SecretHash, &authTime, &created, &expires, &ended,
		&is.RemoteAddr, &is.UserAgent); err != nil {
		return store.IdentitySession{}, err
	}
	is.AuthTime, is.CreatedAt, is.ExpiresAt = fromNullMillis(authTime), fromMillis(created), fromMillis(expires)
	is.EndedAt = fromNullMillis(ended)
	return is, nil
}

func getIdentity(ctx context.Context, q rowQuerier, id string) (store.IdentitySession, error) {
	is, err := scanIdentity(q.QueryRowContext(ctx, "SELECT "+identityColumns+" FROM identity_sessions WHERE id = ?", id))
	if errors.Is(err, sql.ErrNoRows) {
		return store.IdentitySession{}, store.ErrNotFound
	}
	if err != nil {
		return store.IdentitySession{}, fmt.Errorf("sqlite: identity session: %w", err)
	}
	return is, nil
}

// SaveIdentitySession inserts or replaces is; an ended session cannot be
// replaced, nor one of another subject.
func (s *Store) SaveIdentitySession(ctx context.Context, is store.IdentitySession) error {
	return s.inTx(ctx, func(ctx context.Context, tx *writeTx) error {
		old, err := getIdentity(ctx, tx, is.ID)
		switch {
		case err == nil && !old.EndedAt.IsZero():
			return store.ErrSessionEnded
		case err == nil && old.Subject != is.Subject:
			return store.ErrConflict
		case err != nil && !errors.Is(err, store.ErrNotFound):
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO identity_sessions (`+identityColumns+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			is.ID, is.Subject, is.SecretHash, nullMillis(is.AuthTime), millis(is.CreatedAt),
			millis(is.ExpiresAt), nullMillis(is.EndedAt), is.RemoteAddr, is.UserAgent); err != nil {
			return fmt.Errorf("sqlite: save identity session: %w", err)
		}
		return nil
	})
}

// IdentitySession returns the session with id; store.ErrNotFound.
func (s *Store) IdentitySession(ctx context.Context, id string) (store.IdentitySession, error) {
	return getIdentity(ctx, s.reader, id)
}

// EndIdentitySession ends a live session at now; ended or unknown ones
// are left as they are.
func (s *Store) EndIdentitySession(ctx context.Context, id string, now time.Time) error {
	if _, err := s.writer.ExecContext(ctx,
		"UPDATE identity_sessions SET ended_at = ? WHERE id = ? AND ended_at IS NULL", millis(now), id); err != nil {
		return fmt.Errorf("sqlite: end identity session: %w", err)
	}
	return nil
}

// EndSubjectIdentitySessions ends every live session of subject at now
// in one statement (atomic on its own) and returns their IDs, sorted.
func (s *Store) EndSubjectIdentitySessions(ctx context.Context, subject string, now time.Time) ([]string, error) {
	rows, err := s.writer.QueryContext(ctx,
		"UPDATE identity_sessions SET ended_at = ? WHERE subject = ? AND ended_at IS NULL RETURNING id",
		millis(now), subject)
	if err != nil {
		return nil, fmt.Errorf("sqlite: end identity sessions: %w", err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("sqlite: end identity sessions: %w", err)
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: end identity sessions: %w", err)
	}
	slices.Sort(ids)
	return ids, nil
}

// IdentitySessionsOf lists the live sessions of subject at now, newest
// AuthTime first (ties by ID). A session with no AuthTime (NULL) sorts
// last, as the zero time would.
func (s *Store) IdentitySessionsOf(ctx context.Context, subject string, now time.Time) ([]store.IdentitySession, error) {
	rows, err := s.reader.QueryContext(ctx, "SELECT "+identityColumns+` FROM identity_sessions
		WHERE subject = ? AND ended_at IS NULL AND expires_at > ?
		ORDER BY auth_time DESC NULLS LAST, id`, subject, millis(now))
	if err != nil {
		return nil, fmt.Errorf("sqlite: identity sessions of a subject: %w", err)
	}
	defer rows.Close()
	var out []store.IdentitySession
	for rows.Next() {
		is, err := scanIdentity(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: identity sessions of a subject: %w", err)
		}
		out = append(out, is)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: identity sessions of a subject: %w", err)
	}
	return out, nil
}

const consentColumns = `subject, client_id, scopes, granted_at`

func scanConsent(row scanner) (store.Consent, error) {
	var c store.Consent
	var scopes string
	var granted int64
	if err := row.Scan(&c.Subject, &c.ClientID, &scopes, &granted); err != nil {
		return store.Consent{}, err
	}
	var err error
	if c.Scopes, err = decodeStrings(scopes); err != nil {
		return store.Consent{}, err
	}
	c.GrantedAt = fromMillis(granted)
	return c, nil
}

// SaveConsent stores c, replacing the subject's consent for the app, in
// one statement.
func (s *Store) SaveConsent(ctx context.Context, c store.Consent) error {
	scopes, err := encodeStrings(c.Scopes)
	if err != nil {
		return fmt.Errorf("sqlite: save consent: %w", err)
	}
	if _, err := s.writer.ExecContext(ctx, `INSERT INTO consents (`+consentColumns+`) VALUES (?, ?, ?, ?)
		ON CONFLICT (subject, client_id) DO UPDATE SET scopes = excluded.scopes, granted_at = excluded.granted_at`,
		c.Subject, c.ClientID, scopes, millis(c.GrantedAt)); err != nil {
		return fmt.Errorf("sqlite: save consent: %w", err)
	}
	return nil
}

// Consent returns the subject's consent for clientID; store.ErrNotFound.
func (s *Store) Consent(ctx context.Context, subject, clientID string) (store.Consent, error) {
	c, err := scanConsent(s.reader.QueryRowContext(ctx,
		"SELECT "+consentColumns+" FROM consents WHERE subject = ? AND client_id = ?", subject, clientID))
	if errors.Is(err, sql.ErrNoRows) {
		return store.Consent{}, store.ErrNotFound
	}
	if err != nil {
		return store.Consent{}, fmt.Errorf("sqlite: consent: %w", err)
	}
	return c, nil
}

// ConsentsOf lists the subject's consents, sorted by ClientID (SQLite
// compares TEXT bytewise).
func (s *Store) ConsentsOf(ctx context.Context, subject string) ([]store.Consent, error) {
	rows, err := s.reader.QueryContext(ctx,
		"SELECT "+consentColumns+" FROM consents WHERE subject = ? ORDER BY client_id", subject)
	if err != nil {
		return nil, fmt.Errorf("sqlite: consents: %w", err)
	}
	defer rows.Close()
	var out []store.Consent
	for rows.Next() {
		c, err := scanConsent(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: consents: %w", err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: consents: %w", err)
	}
	return out, nil
}

// RevokeConsent forgets the subject's consent for clientID, if any.
func (s *Store) RevokeConsent(ctx context.Context, subject, clientID string) error {
	if _, err := s.writer.ExecContext(ctx,
		"DELETE FROM consents WHERE subject = ? AND client_id = ?", subject, clientID); err != nil {
		return fmt.Errorf("sqlite: revoke consent: %w", err)
	}
	return nil
}

// conflictUnlessInserted turns an INSERT … ON CONFLICT DO NOTHING that
// changed no row into store.ErrConflict.
func conflictUnlessInserted(res sql.Result, what string) error {
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("sqlite: %s: %w", what, err)
	}
	if n == 0 {
		return store.ErrConflict
	}
	return nil
}

package sqlite

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/erpgate/erpgate/store"
	"github.com/erpgate/erpgate/store/sqlstore"
)

// The grants whose read decides a write, each in one IMMEDIATE write
// transaction, so one caller wins; the rest of store.Grants is the
// shared core's.

// RedeemAuthCode marks the code used and returns it as it was; a used
// one comes back as stored with store.ErrCodeReused.
func (s *Store) RedeemAuthCode(ctx context.Context, hash string, now time.Time, accessTokenID string, accessExpiresAt time.Time) (store.AuthCode, error) {
	var out store.AuthCode
	err := s.inTx(ctx, func(ctx context.Context, tx *writeTx) error {
		c, err := s.rec.AuthCode(ctx, sqlstore.SQL(tx), hash)
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
	return sqlstore.Keep(out, err, store.ErrCodeReused)
}

// RotateRefreshToken implements store.RefreshTokens: the check, the mark
// and the insert share one IMMEDIATE transaction, so one caller wins.
func (s *Store) RotateRefreshToken(ctx context.Context, hash string, now time.Time, successor []byte, next store.RefreshToken) (store.RefreshToken, error) {
	var out store.RefreshToken
	err := s.inTx(ctx, func(ctx context.Context, tx *writeTx) error {
		db := sqlstore.SQL(tx)
		cur, err := s.rec.RefreshToken(ctx, db, hash)
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
		if err := s.rec.InsertRefresh(ctx, db, next); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "UPDATE refresh_tokens SET rotated_at = ?, successor = ? WHERE hash = ?",
			millis(now), sqlstore.NonNil(successor), hash); err != nil {
			return fmt.Errorf("sqlite: rotate refresh token: %w", err)
		}
		out.RotatedAt, out.Successor = fromMillis(millis(now)), bytes.Clone(successor)
		return nil
	})
	return sqlstore.Keep(out, err, store.ErrRevoked, store.ErrRotated)
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
		rows, err := sqlstore.SQL(tx).Query(ctx, `SELECT access_token_id, access_expires_at FROM refresh_tokens
			WHERE access_token_id <> '' AND family_id IN (`+families+`)
			ORDER BY created_at, hash`, arg)
		out, err = sqlstore.Collect(rows, err, s.rec.ScanIssued)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("sqlite: revoke refresh tokens: %w", err)
	}
	return out, nil
}

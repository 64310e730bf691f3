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
			millis(now), accessTokenID, flavor{}.NullTime(accessExpiresAt), hash); err != nil {
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
		out.RotatedAt, out.Successor = sqlstore.Millis(now), bytes.Clone(successor)
		return nil
	})
	return sqlstore.Keep(out, err, store.ErrRevoked, store.ErrRotated)
}

// revokeFamilies is sqlstore.Config.RevokeFamilies: one IMMEDIATE
// transaction.
func (s *Store) revokeFamilies(ctx context.Context, families, arg string, now time.Time) ([]store.IssuedToken, error) {
	var out []store.IssuedToken
	err := s.inTx(ctx, func(ctx context.Context, tx *writeTx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE refresh_tokens SET revoked_at = ?2
			WHERE revoked_at IS NULL AND family_id IN (`+families+`)`, arg, millis(now)); err != nil {
			return err
		}
		var err error
		out, err = s.rec.IssuedTokens(ctx, sqlstore.SQL(tx), "IN ("+families+")", arg)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("sqlite: revoke refresh tokens: %w", err)
	}
	return out, nil
}

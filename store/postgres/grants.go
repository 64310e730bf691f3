package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/erpgate/erpgate/store"
	"github.com/erpgate/erpgate/store/sqlstore"
)

// familyLockClass is the first key of the two-key
// pg_advisory_xact_lock(familyLockClass, hashtext(family_id)) that every
// writer of a refresh-token family's rows takes ("rt" in ASCII); the
// one-key lock of migrations lives in a separate key space.
const familyLockClass int32 = 0x7274

// RedeemAuthCode marks the code used and returns it as it was; a used
// one comes back as stored with store.ErrCodeReused.
//
// The mark is one conditional statement: the CTE locks the row only
// while used_at IS NULL, and the UPDATE returns the locked row as it was
// before. Of concurrent callers on any replica, the first to lock wins;
// the others wait for its commit, find used_at set when PostgreSQL
// re-checks the row, update nothing and read the winner's redemption.
func (s *Store) RedeemAuthCode(ctx context.Context, hash string, now time.Time, accessTokenID string, accessExpiresAt time.Time) (store.AuthCode, error) {
	for range raceAttempts {
		c, err := s.rec.ScanAuthCode(s.pool.QueryRow(ctx, `WITH old AS (
				SELECT `+sqlstore.AuthCodeColumns+` FROM auth_codes WHERE hash = $1 AND used_at IS NULL FOR UPDATE
			)
			UPDATE auth_codes AS c SET used_at = $2, access_token_id = $3, access_expires_at = $4
			FROM old WHERE c.hash = old.hash
			RETURNING `+sqlstore.Qualified("old", sqlstore.AuthCodeColumns),
			hash, ts(now), accessTokenID, nullTS(accessExpiresAt)))
		if err == nil {
			return c, nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return store.AuthCode{}, fmt.Errorf("postgres: redeem auth code: %w", err)
		}
		c, err = s.rec.AuthCode(ctx, pgxDB{s.pool}, hash)
		switch {
		case err != nil:
			return store.AuthCode{}, err
		case !c.UsedAt.IsZero():
			return c, store.ErrCodeReused
		}
		// Saved after the UPDATE's snapshot: try again.
	}
	return store.AuthCode{}, fmt.Errorf("postgres: redeem auth code: still changing after %d attempts", raceAttempts)
}

// lockFamily takes the family's advisory lock until the end of tx.
func lockFamily(ctx context.Context, tx pgx.Tx, familyID string) error {
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1, hashtext($2))", familyLockClass, familyID); err != nil {
		return fmt.Errorf("postgres: lock refresh family: %w", err)
	}
	return nil
}

// RotateRefreshToken implements store.RefreshTokens.
//
// The single winner comes from the conditional UPDATE ... WHERE
// rotated_at IS NULL AND revoked_at IS NULL RETURNING: of concurrent
// callers on any replica one marks the row, and the others, re-checking
// it after the winner commits, update nothing and read what it stored.
//
// Before that the transaction takes the family's advisory lock, the one
// every revocation of the family takes too. Without it a revocation
// running while a rotation is in flight could miss the successor: its
// UPDATE of the family's rows waits for the rotated row, but the
// successor, inserted after the revocation's snapshot, is invisible to
// it, and would stay current in a family otherwise revoked. With the
// lock a revocation runs wholly before a rotation (which then finds the
// token revoked) or wholly after it (and sees the successor).
func (s *Store) RotateRefreshToken(ctx context.Context, hash string, now time.Time, successor []byte, next store.RefreshToken) (store.RefreshToken, error) {
	var out store.RefreshToken
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var family string
		err := tx.QueryRow(ctx, "SELECT family_id FROM refresh_tokens WHERE hash = $1", hash).Scan(&family)
		if errors.Is(err, pgx.ErrNoRows) {
			return store.ErrNotFound
		}
		if err != nil {
			return fmt.Errorf("postgres: rotate refresh token: %w", err)
		}
		if err := lockFamily(ctx, tx, family); err != nil {
			return err
		}

		out, err = s.rec.ScanRefresh(tx.QueryRow(ctx, `UPDATE refresh_tokens SET rotated_at = $2, successor = $3
			WHERE hash = $1 AND rotated_at IS NULL AND revoked_at IS NULL
			RETURNING `+sqlstore.RefreshColumns, hash, ts(now), sqlstore.NonNil(successor)))
		if errors.Is(err, pgx.ErrNoRows) {
			// Lost: say why, revocation first (see store.RefreshTokens).
			if out, err = s.rec.RefreshToken(ctx, pgxDB{tx}, hash); err != nil {
				return err
			}
			switch {
			case !out.RevokedAt.IsZero():
				return store.ErrRevoked
			case !out.RotatedAt.IsZero():
				return store.ErrRotated
			}
			return fmt.Errorf("postgres: rotate refresh token: token neither current nor rotated nor revoked")
		}
		if err != nil {
			return fmt.Errorf("postgres: rotate refresh token: %w", err)
		}
		// A taken hash aborts the transaction, undoing the mark above.
		next.FamilyID = out.FamilyID
		return s.rec.InsertRefresh(ctx, pgxDB{tx}, next)
	})
	return sqlstore.Keep(out, err, store.ErrRevoked, store.ErrRotated)
}

// revokeFamilies is sqlstore.Config.RevokeFamilies, in one transaction.
// It first takes the advisory lock of every family listed (see
// RotateRefreshToken), in key order so that two revocations sharing
// families cannot deadlock, and then works on exactly those families: the
// statements after the locks see every rotation that held one before. A
// family saved after the listing is not revoked: that sign-in came after
// this revocation.
func (s *Store) revokeFamilies(ctx context.Context, families, arg string, now time.Time) ([]store.IssuedToken, error) {
	var out []store.IssuedToken
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT DISTINCT f.family_id, hashtext(f.family_id) AS k
			FROM (`+families+`) AS f (family_id) ORDER BY k, f.family_id`, arg)
		if err != nil {
			return err
		}
		ids, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (string, error) {
			var id string
			var k int32
			return id, row.Scan(&id, &k)
		})
		if err != nil {
			return err
		}
		out = nil
		if len(ids) == 0 {
			return nil
		}
		var b pgx.Batch
		for _, id := range ids {
			b.Queue("SELECT pg_advisory_xact_lock($1, hashtext($2))", familyLockClass, id)
		}
		if err := tx.SendBatch(ctx, &b).Close(); err != nil {
			return fmt.Errorf("lock: %w", err)
		}

		if _, err := tx.Exec(ctx, `UPDATE refresh_tokens SET revoked_at = $2
			WHERE revoked_at IS NULL AND family_id = ANY($1)`, ids, ts(now)); err != nil {
			return err
		}
		out, err = s.rec.IssuedTokens(ctx, pgxDB{tx}, "= ANY($1)", ids)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: revoke refresh tokens: %w", err)
	}
	return out, nil
}

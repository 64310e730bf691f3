package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/erpgate/erpgate/store"
)

// familyLockClass is the first key of the two-key
// pg_advisory_xact_lock(familyLockClass, hashtext(family_id)) that every
// writer of a refresh-token family's rows takes ("rt" in ASCII); the
// one-key lock of migrations lives in a separate key space.
const familyLockClass int32 = 0x7274

const authCodeColumns = `hash, client_id, subject, redirect_uri, scopes, nonce, code_challenge, session_id,
	auth_time, created_at, expires_at, used_at, access_token_id, access_expires_at`

func scanAuthCode(row scanner) (store.AuthCode, error) {
	var c store.AuthCode
	var authTime, created, expires, used, accessExpires pgtype.Timestamptz
	if err := row.Scan(&c.Hash, &c.ClientID, &c.Subject, &c.RedirectURI, &c.Scopes, &c.Nonce, &c.CodeChallenge,
		&c.SessionID, &authTime, &created, &expires, &used, &c.AccessTokenID, &accessExpires); err != nil {
		return store.AuthCode{}, err
	}
	c.Scopes = orNil(c.Scopes)
	c.AuthTime, c.CreatedAt, c.ExpiresAt = fromTS(authTime), fromTS(created), fromTS(expires)
	c.UsedAt, c.AccessExpiresAt = fromTS(used), fromTS(accessExpires)
	return c, nil
}

func getAuthCode(ctx context.Context, q querier, hash string) (store.AuthCode, error) {
	c, err := scanAuthCode(q.QueryRow(ctx, "SELECT "+authCodeColumns+" FROM auth_codes WHERE hash = $1", hash))
	if errors.Is(err, pgx.ErrNoRows) {
		return store.AuthCode{}, store.ErrNotFound
	}
	if err != nil {
		return store.AuthCode{}, fmt.Errorf("postgres: auth code: %w", err)
	}
	return c, nil
}

// SaveAuthCode stores c; store.ErrConflict if its hash exists.
func (s *Store) SaveAuthCode(ctx context.Context, c store.AuthCode) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO auth_codes (`+authCodeColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`,
		c.Hash, c.ClientID, c.Subject, c.RedirectURI, nonNil(c.Scopes), c.Nonce, c.CodeChallenge, c.SessionID,
		nullTS(c.AuthTime), ts(c.CreatedAt), ts(c.ExpiresAt), nullTS(c.UsedAt),
		c.AccessTokenID, nullTS(c.AccessExpiresAt))
	return insertErr(err, "save auth code")
}

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
		c, err := scanAuthCode(s.pool.QueryRow(ctx, `WITH old AS (
				SELECT `+authCodeColumns+` FROM auth_codes WHERE hash = $1 AND used_at IS NULL FOR UPDATE
			)
			UPDATE auth_codes AS c SET used_at = $2, access_token_id = $3, access_expires_at = $4
			FROM old WHERE c.hash = old.hash
			RETURNING `+qualified("old", authCodeColumns),
			hash, ts(now), accessTokenID, nullTS(accessExpiresAt)))
		if err == nil {
			return c, nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return store.AuthCode{}, fmt.Errorf("postgres: redeem auth code: %w", err)
		}
		c, err = getAuthCode(ctx, s.pool, hash)
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

// DeleteExpiredAuthCodes forgets codes whose ExpiresAt is before now.
func (s *Store) DeleteExpiredAuthCodes(ctx context.Context, now time.Time) error {
	return s.execTx(ctx, "delete expired auth codes", "DELETE FROM auth_codes WHERE expires_at < $1", ts(now))
}

const refreshColumns = `hash, family_id, client_id, subject, session_id, scopes, auth_time, created_at, expires_at,
	access_token_id, access_expires_at, rotated_at, successor, revoked_at`

func scanRefresh(row scanner) (store.RefreshToken, error) {
	var t store.RefreshToken
	var authTime, created, expires, accessExpires, rotated, revoked pgtype.Timestamptz
	if err := row.Scan(&t.Hash, &t.FamilyID, &t.ClientID, &t.Subject, &t.SessionID, &t.Scopes, &authTime,
		&created, &expires, &t.AccessTokenID, &accessExpires, &rotated, &t.Successor, &revoked); err != nil {
		return store.RefreshToken{}, err
	}
	t.Scopes, t.Successor = orNil(t.Scopes), orNil(t.Successor)
	t.AuthTime, t.CreatedAt, t.ExpiresAt = fromTS(authTime), fromTS(created), fromTS(expires)
	t.AccessExpiresAt, t.RotatedAt, t.RevokedAt = fromTS(accessExpires), fromTS(rotated), fromTS(revoked)
	return t, nil
}

func getRefresh(ctx context.Context, q querier, hash string) (store.RefreshToken, error) {
	t, err := scanRefresh(q.QueryRow(ctx, "SELECT "+refreshColumns+" FROM refresh_tokens WHERE hash = $1", hash))
	if errors.Is(err, pgx.ErrNoRows) {
		return store.RefreshToken{}, store.ErrNotFound
	}
	if err != nil {
		return store.RefreshToken{}, fmt.Errorf("postgres: refresh token: %w", err)
	}
	return t, nil
}

// insertRefresh inserts t through q; store.ErrConflict if its hash
// exists.
func insertRefresh(ctx context.Context, q querier, t store.RefreshToken) error {
	_, err := q.Exec(ctx, `INSERT INTO refresh_tokens (`+refreshColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`,
		t.Hash, t.FamilyID, t.ClientID, t.Subject, t.SessionID, nonNil(t.Scopes), nullTS(t.AuthTime),
		ts(t.CreatedAt), ts(t.ExpiresAt), t.AccessTokenID, nullTS(t.AccessExpiresAt),
		nullTS(t.RotatedAt), nonNil(t.Successor), nullTS(t.RevokedAt))
	return insertErr(err, "save refresh token")
}

// SaveRefreshToken stores t; store.ErrConflict if its hash exists. A new
// family has no rows for a revocation to miss, so no lock is needed.
func (s *Store) SaveRefreshToken(ctx context.Context, t store.RefreshToken) error {
	return insertRefresh(ctx, s.pool, t)
}

// RefreshToken returns the token with hash; store.ErrNotFound.
func (s *Store) RefreshToken(ctx context.Context, hash string) (store.RefreshToken, error) {
	return getRefresh(ctx, s.pool, hash)
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

		out, err = scanRefresh(tx.QueryRow(ctx, `UPDATE refresh_tokens SET rotated_at = $2, successor = $3
			WHERE hash = $1 AND rotated_at IS NULL AND revoked_at IS NULL
			RETURNING `+refreshColumns, hash, ts(now), nonNil(successor)))
		if errors.Is(err, pgx.ErrNoRows) {
			// Lost: say why, revocation first (see store.RefreshTokens).
			if out, err = getRefresh(ctx, tx, hash); err != nil {
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
		return insertRefresh(ctx, tx, next)
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
	return s.revokeFamilies(ctx, "SELECT $1::text", familyID, now)
}

// RevokeSessionRefreshTokens revokes the families with a token of the
// session and returns their access tokens.
func (s *Store) RevokeSessionRefreshTokens(ctx context.Context, sessionID string, now time.Time) ([]store.IssuedToken, error) {
	return s.revokeFamilies(ctx, "SELECT family_id FROM refresh_tokens WHERE session_id = $1", sessionID, now)
}

// RevokeSubjectRefreshTokens revokes the families with a token of the
// subject and returns their access tokens.
func (s *Store) RevokeSubjectRefreshTokens(ctx context.Context, subject string, now time.Time) ([]store.IssuedToken, error) {
	return s.revokeFamilies(ctx, "SELECT family_id FROM refresh_tokens WHERE subject = $1", subject, now)
}

// revokeFamilies revokes the families listed by families (a query of one
// text column with one parameter, arg) and returns the access tokens of
// all their tokens, oldest token first, in one transaction.
//
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
		rows, err = tx.Query(ctx, `SELECT access_token_id, access_expires_at FROM refresh_tokens
			WHERE access_token_id <> '' AND family_id = ANY($1)
			ORDER BY created_at, hash`, ids)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (store.IssuedToken, error) {
			var it store.IssuedToken
			var exp pgtype.Timestamptz
			err := row.Scan(&it.ID, &exp)
			it.ExpiresAt = fromTS(exp)
			return it, err
		})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: revoke refresh tokens: %w", err)
	}
	return out, nil
}

// DeleteExpiredRefreshTokens forgets tokens whose ExpiresAt is before now.
func (s *Store) DeleteExpiredRefreshTokens(ctx context.Context, now time.Time) error {
	return s.execTx(ctx, "delete expired refresh tokens", "DELETE FROM refresh_tokens WHERE expires_at < $1", ts(now))
}

const identityColumns = `id, subject, secret_hash, auth_time, created_at, expires_at, ended_at, remote_addr, user_agent`

func scanIdentity(row scanner) (store.IdentitySession, error) {
	var is store.IdentitySession
	var authTime, created, expires, ended pgtype.Timestamptz
	if err := row.Scan(&is.ID, &is.Subject, &is.SecretHash, &authTime, &created, &expires, &ended,
		&is.RemoteAddr, &is.UserAgent); err != nil {
		return store.IdentitySession{}, err
	}
	is.AuthTime, is.CreatedAt, is.ExpiresAt = fromTS(authTime), fromTS(created), fromTS(expires)
	is.EndedAt = fromTS(ended)
	return is, nil
}

func getIdentity(ctx context.Context, q querier, id string) (store.IdentitySession, error) {
	is, err := scanIdentity(q.QueryRow(ctx, "SELECT "+identityColumns+" FROM identity_sessions WHERE id = $1", id))
	if errors.Is(err, pgx.ErrNoRows) {
		return store.IdentitySession{}, store.ErrNotFound
	}
	if err != nil {
		return store.IdentitySession{}, fmt.Errorf("postgres: identity session: %w", err)
	}
	return is, nil
}

// SaveIdentitySession inserts or replaces is; an ended session cannot be
// replaced, nor one of another subject. One conditional upsert decides:
// if it changed nothing, the stored row (which can no longer become
// live again or change subject) says why.
func (s *Store) SaveIdentitySession(ctx context.Context, is store.IdentitySession) error {
	tag, err := s.pool.Exec(ctx, `INSERT INTO identity_sessions AS i (`+identityColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
		ON CONFLICT (id) DO UPDATE SET
			subject = excluded.subject, secret_hash = excluded.secret_hash, auth_time = excluded.auth_time,
			created_at = excluded.created_at, expires_at = excluded.expires_at, ended_at = excluded.ended_at,
			remote_addr = excluded.remote_addr, user_agent = excluded.user_agent
		WHERE i.ended_at IS NULL AND i.subject = excluded.subject`,
		is.ID, is.Subject, is.SecretHash, nullTS(is.AuthTime), ts(is.CreatedAt), ts(is.ExpiresAt), nullTS(is.EndedAt),
		is.RemoteAddr, is.UserAgent)
	if err != nil {
		return fmt.Errorf("postgres: save identity session: %w", err)
	}
	if tag.RowsAffected() > 0 {
		return nil
	}
	old, err := getIdentity(ctx, s.pool, is.ID)
	switch {
	case err != nil:
		return err
	case !old.EndedAt.IsZero():
		return store.ErrSessionEnded
	case old.Subject != is.Subject:
		return store.ErrConflict
	}
	return fmt.Errorf("postgres: save identity session: refused, but the stored session is live and of the same subject")
}

// IdentitySession returns the session with id; store.ErrNotFound.
func (s *Store) IdentitySession(ctx context.Context, id string) (store.IdentitySession, error) {
	return getIdentity(ctx, s.pool, id)
}

// EndIdentitySession ends a live session at now; ended or unknown ones
// are left as they are.
func (s *Store) EndIdentitySession(ctx context.Context, id string, now time.Time) error {
	if _, err := s.pool.Exec(ctx,
		"UPDATE identity_sessions SET ended_at = $2 WHERE id = $1 AND ended_at IS NULL", id, ts(now)); err != nil {
		return fmt.Errorf("postgres: end identity session: %w", err)
	}
	return nil
}

// EndSubjectIdentitySessions ends every live session of subject at now
// in one statement (each row is ended once, by whichever statement gets
// it first) and returns their IDs, sorted.
func (s *Store) EndSubjectIdentitySessions(ctx context.Context, subject string, now time.Time) ([]string, error) {
	rows, err := s.pool.Query(ctx, `WITH ended AS (
			UPDATE identity_sessions SET ended_at = $2 WHERE subject = $1 AND ended_at IS NULL RETURNING id
		)
		SELECT id FROM ended ORDER BY id`, subject, ts(now))
	if err != nil {
		return nil, fmt.Errorf("postgres: end identity sessions: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("postgres: end identity sessions: %w", err)
	}
	return ids, nil
}

// IdentitySessionsOf lists the live sessions of subject at now, newest
// AuthTime first (ties by ID). A session with no AuthTime (NULL) sorts
// last, as the zero time would.
func (s *Store) IdentitySessionsOf(ctx context.Context, subject string, now time.Time) ([]store.IdentitySession, error) {
	rows, err := s.pool.Query(ctx, "SELECT "+identityColumns+` FROM identity_sessions
		WHERE subject = $1 AND ended_at IS NULL AND expires_at > $2
		ORDER BY auth_time DESC NULLS LAST, id`, subject, ts(now))
	if err != nil {
		return nil, fmt.Errorf("postgres: identity sessions of a subject: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (store.IdentitySession, error) { return scanIdentity(row) })
	if err != nil {
		return nil, fmt.Errorf("postgres: identity sessions of a subject: %w", err)
	}
	return out, nil
}

const consentColumns = `subject, client_id, scopes, granted_at`

func scanConsent(row scanner) (store.Consent, error) {
	var c store.Consent
	var granted pgtype.Timestamptz
	if err := row.Scan(&c.Subject, &c.ClientID, &c.Scopes, &granted); err != nil {
		return store.Consent{}, err
	}
	c.Scopes, c.GrantedAt = orNil(c.Scopes), fromTS(granted)
	return c, nil
}

// SaveConsent stores c, replacing the subject's consent for the app, in
// one statement: of concurrent saves the last to commit stands.
func (s *Store) SaveConsent(ctx context.Context, c store.Consent) error {
	if _, err := s.pool.Exec(ctx, `INSERT INTO consents (`+consentColumns+`) VALUES ($1, $2, $3, $4)
		ON CONFLICT (subject, client_id) DO UPDATE SET scopes = excluded.scopes, granted_at = excluded.granted_at`,
		c.Subject, c.ClientID, nonNil(c.Scopes), ts(c.GrantedAt)); err != nil {
		return fmt.Errorf("postgres: save consent: %w", err)
	}
	return nil
}

// Consent returns the subject's consent for clientID; store.ErrNotFound.
func (s *Store) Consent(ctx context.Context, subject, clientID string) (store.Consent, error) {
	c, err := scanConsent(s.pool.QueryRow(ctx,
		"SELECT "+consentColumns+" FROM consents WHERE subject = $1 AND client_id = $2", subject, clientID))
	if errors.Is(err, pgx.ErrNoRows) {
		return store.Consent{}, store.ErrNotFound
	}
	if err != nil {
		return store.Consent{}, fmt.Errorf("postgres: consent: %w", err)
	}
	return c, nil
}

// ConsentsOf lists the subject's consents, sorted by ClientID (the
// column is COLLATE "C": byte order).
func (s *Store) ConsentsOf(ctx context.Context, subject string) ([]store.Consent, error) {
	rows, err := s.pool.Query(ctx,
		"SELECT "+consentColumns+" FROM consents WHERE subject = $1 ORDER BY client_id", subject)
	if err != nil {
		return nil, fmt.Errorf("postgres: consents: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (store.Consent, error) { return scanConsent(row) })
	if err != nil {
		return nil, fmt.Errorf("postgres: consents: %w", err)
	}
	return out, nil
}

// RevokeConsent forgets the subject's consent for clientID, if any.
func (s *Store) RevokeConsent(ctx context.Context, subject, clientID string) error {
	if _, err := s.pool.Exec(ctx,
		"DELETE FROM consents WHERE subject = $1 AND client_id = $2", subject, clientID); err != nil {
		return fmt.Errorf("postgres: revoke consent: %w", err)
	}
	return nil
}

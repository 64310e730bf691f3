package sqlstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"time"

	"github.com/erpgate/erpgate/store"
)

// TOTPColumns are the columns of totp_factors, in scanTOTP's order.
const TOTPColumns = `login, secret, created_at, confirmed_at, last_step`

func (r *Records) scanTOTP(row Row) (store.TOTPFactor, error) {
	var f store.TOTPFactor
	err := row.Scan(&f.Login, &f.Secret, r.f.ScanTime(&f.CreatedAt), r.f.ScanTime(&f.ConfirmedAt), &f.LastStep)
	return f, err
}

// TOTP returns login's TOTP factor; store.ErrNotFound.
func (s *Store) TOTP(ctx context.Context, login string) (store.TOTPFactor, error) {
	return one(s.rec, s.read.QueryRow(ctx, s.rec.q.totp, login), s.rec.scanTOTP, "totp factor", store.ErrNotFound)
}

// SaveTOTP stores a pending factor in one conditional upsert: a row it
// did not change is confirmed (store.ErrConflict).
func (s *Store) SaveTOTP(ctx context.Context, f store.TOTPFactor) error {
	n, err := s.write.Exec(ctx, s.rec.q.saveTOTP, f.Login, f.Secret, s.rec.f.Time(f.CreatedAt))
	return s.rec.changed(n, err, "save totp factor", store.ErrConflict)
}

// ConfirmTOTP confirms the pending factor with secret.
func (s *Store) ConfirmTOTP(ctx context.Context, login, secret string, step int64, now time.Time) error {
	n, err := s.write.Exec(ctx, s.rec.q.confirmTOTP, login, secret, s.rec.f.Time(now), step)
	return s.rec.changed(n, err, "confirm totp factor", store.ErrNotFound)
}

// UseTOTPStep moves last_step forward in one conditional UPDATE: of two
// replicas accepting one code, the second changes no row.
func (s *Store) UseTOTPStep(ctx context.Context, login string, step int64) error {
	n, err := s.write.Exec(ctx, s.rec.q.useTOTPStep, login, step)
	return s.rec.changed(n, err, "use totp step", store.ErrConflict)
}

// SaveRecoveryCodes writes the new codes under a fresh batch id, then
// moves the login's batch pointer to it (the one statement that switches
// old codes off and new ones on), then deletes the old batch's rows.
// Until the pointer moves the new rows are not live; a failure after it
// leaves dead rows that the next save or DeleteFactors removes.
func (s *Store) SaveRecoveryCodes(ctx context.Context, login string, hashes []string, now time.Time) error {
	var b [16]byte
	_, _ = rand.Read(b[:])
	batch := hex.EncodeToString(b[:])
	for _, h := range hashes {
		if _, err := s.write.Exec(ctx, s.rec.q.insertRecoveryCode, login, batch, h); err != nil {
			return s.rec.Err("save recovery codes", err)
		}
	}
	if _, err := s.write.Exec(ctx, s.rec.q.setRecoveryBatch, login, batch, s.rec.f.Time(now)); err != nil {
		return s.rec.Err("save recovery codes", err)
	}
	if _, err := s.write.Exec(ctx, s.rec.q.deleteOldRecoveryCodes, login, batch); err != nil {
		return s.rec.Err("save recovery codes", err)
	}
	return nil
}

func scanHash(row Row) (string, error) {
	var h string
	err := row.Scan(&h)
	return h, err
}

// RecoveryCodes lists the hashes of login's live batch.
func (s *Store) RecoveryCodes(ctx context.Context, login string) ([]string, error) {
	return list(ctx, s.rec, s.read, scanHash, "recovery codes", s.rec.q.recoveryCodes, login)
}

// UseRecoveryCode deletes the code's row of the live batch: of
// concurrent uses only one deletes it.
func (s *Store) UseRecoveryCode(ctx context.Context, login, hash string) error {
	n, err := s.write.Exec(ctx, s.rec.q.useRecoveryCode, login, hash)
	return s.rec.changed(n, err, "use recovery code", store.ErrNotFound)
}

// DeleteFactors forgets login's factors, passkeys included: the batch
// pointer first, so no recovery code is live for a moment after the TOTP
// factor went.
func (s *Store) DeleteFactors(ctx context.Context, login string) error {
	for _, q := range []string{s.rec.q.deleteRecoveryBatch, s.rec.q.deleteRecoveryCodes, s.rec.q.deleteTOTP, s.rec.q.deletePasskeys} {
		if _, err := s.write.Exec(ctx, q, login); err != nil {
			return s.rec.Err("delete factors", err)
		}
	}
	return nil
}

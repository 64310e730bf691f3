package sqlstore

import (
	"context"
	"encoding/base64"
	"time"

	"github.com/erpgate/erpgate/store"
)

// PasskeyColumns are the columns of passkeys, in scanPasskey's order.
const PasskeyColumns = `credential_id, login, user_handle, public_key, sign_count, aaguid, transports,
	backup_eligible, backup_state, user_verified, name, created_at, last_used_at`

// b64 encodes a byte string column: text in both backends, so the
// flavors need no byte-type mapping.
func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func (r *Records) scanPasskey(row Row) (store.Passkey, error) {
	var p store.Passkey
	var id, handle, key, aaguid string
	var count int64
	if err := row.Scan(&id, &p.Login, &handle, &key, &count, &aaguid, r.f.ScanStrings(&p.Transports),
		&p.BackupEligible, &p.BackupState, &p.UserVerified, &p.Name, r.f.ScanTime(&p.CreatedAt),
		r.f.ScanTime(&p.LastUsedAt)); err != nil {
		return store.Passkey{}, err
	}
	p.SignCount = uint32(count)
	for _, c := range []struct {
		s   string
		dst *[]byte
	}{{id, &p.CredentialID}, {handle, &p.UserHandle}, {key, &p.PublicKey}, {aaguid, &p.AAGUID}} {
		b, err := base64.RawURLEncoding.DecodeString(c.s)
		if err != nil {
			return store.Passkey{}, err
		}
		*c.dst = b
	}
	return p, nil
}

// SavePasskey inserts p; a credential id that exists changes no row
// (store.ErrConflict).
func (s *Store) SavePasskey(ctx context.Context, p store.Passkey) error {
	f := s.rec.f
	n, err := s.write.Exec(ctx, s.rec.q.savePasskey, b64(p.CredentialID), p.Login, b64(p.UserHandle), b64(p.PublicKey),
		int64(p.SignCount), b64(p.AAGUID), f.Strings(p.Transports), p.BackupEligible, p.BackupState, p.UserVerified,
		p.Name, f.Time(p.CreatedAt), f.NullTime(p.LastUsedAt))
	return s.rec.changed(n, err, "save passkey", store.ErrConflict)
}

// Passkeys lists login's passkeys, oldest first.
func (s *Store) Passkeys(ctx context.Context, login string) ([]store.Passkey, error) {
	return list(ctx, s.rec, s.read, s.rec.scanPasskey, "passkeys", s.rec.q.passkeys, login)
}

// PasskeyByCredentialID returns the passkey with id; store.ErrNotFound.
// It reads the primary: a passkey registered a moment ago on another
// replica signs in at once.
func (s *Store) PasskeyByCredentialID(ctx context.Context, id []byte) (store.Passkey, error) {
	return one(s.rec, s.write.QueryRow(ctx, s.rec.q.passkey, b64(id)), s.rec.scanPasskey, "passkey", store.ErrNotFound)
}

// UpdatePasskeyUse moves sign_count forward in one conditional UPDATE.
// A row it did not change is either missing (store.ErrNotFound) or has
// a count that did not grow (store.ErrConflict).
func (s *Store) UpdatePasskeyUse(ctx context.Context, id []byte, signCount uint32, at time.Time) error {
	n, err := s.write.Exec(ctx, s.rec.q.usePasskey, b64(id), int64(signCount), s.rec.f.Time(at))
	if err != nil || n > 0 {
		return s.rec.changed(n, err, "use passkey", store.ErrConflict)
	}
	if _, err := s.PasskeyByCredentialID(ctx, id); err != nil {
		return err
	}
	return store.ErrConflict
}

// RenamePasskey names login's passkey id.
func (s *Store) RenamePasskey(ctx context.Context, login string, id []byte, name string) error {
	n, err := s.write.Exec(ctx, s.rec.q.renamePasskey, b64(id), login, name)
	return s.rec.changed(n, err, "rename passkey", store.ErrNotFound)
}

// DeletePasskey removes login's passkey id.
func (s *Store) DeletePasskey(ctx context.Context, login string, id []byte) error {
	n, err := s.write.Exec(ctx, s.rec.q.deletePasskey, b64(id), login)
	return s.rec.changed(n, err, "delete passkey", store.ErrNotFound)
}

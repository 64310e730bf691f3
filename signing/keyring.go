package signing

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/erpgate/erpgate/internal/loop"
	"github.com/erpgate/erpgate/store"
)

// Algorithms the keyring can generate keys for.
var Algorithms = []string{"RS256", "ES256", "EdDSA"}

// KeyStore is the part of the store the keyring uses.
type KeyStore interface {
	SigningKeys(ctx context.Context) ([]store.SigningKey, error)
	AddSigningKey(ctx context.Context, k store.SigningKey) error
	DeleteExpiredSigningKeys(ctx context.Context, now time.Time) error
}

// Config configures a Keyring.
type Config struct {
	Algorithm   string        // RS256, ES256 or EdDSA
	RotateEvery time.Duration // how long a key signs before the next one takes over
	// MaxTokenTTL is the longest lifetime of a token signed by a key, so a
	// retired key stays published until its last token has expired.
	MaxTokenTTL time.Duration
	Store       KeyStore
	// Lock, when set, runs f while no other process sharing Store runs
	// it (postgres: an advisory lock). Refresh generates keys under it
	// and re-reads the keys first, so replicas starting together on an
	// empty store, or finding a rotation due at once, store one key
	// between them. Without it two may store a key each; every process
	// still signs with the same one (see Refresh), the other is only
	// published.
	Lock   func(ctx context.Context, f func(ctx context.Context) error) error
	Clock  func() time.Time
	Logger *slog.Logger
}

// Keyring signs with the active key and verifies with any published one.
// It is safe for concurrent use; the key set is an immutable snapshot
// swapped atomically when keys are added or expire.
type Keyring struct {
	cfg   Config
	state atomic.Pointer[keyState]
	mu    sync.Mutex // serialises Refresh
}

type keyState struct {
	active  *key            // signs new tokens
	byID    map[string]*key // every published key
	jwks    []byte          // public JWKS document, pre-rendered
	algs    []jose.SignatureAlgorithm
	signers sync.Map // typ -> jose.Signer for the active key
}

type key struct {
	stored store.SigningKey
	alg    jose.SignatureAlgorithm
	public jose.JSONWebKey
	signer jose.SigningKey
}

// Open loads the stored keys and makes sure an active key for cfg.Algorithm
// exists, generating and storing one on first start.
func Open(ctx context.Context, cfg Config) (*Keyring, error) {
	if !slices.Contains(Algorithms, cfg.Algorithm) {
		return nil, fmt.Errorf("signing: unsupported algorithm %q", cfg.Algorithm)
	}
	if cfg.RotateEvery <= 0 || cfg.MaxTokenTTL <= 0 {
		return nil, errors.New("signing: RotateEvery and MaxTokenTTL must be positive")
	}
	if cfg.Clock == nil || cfg.Logger == nil || cfg.Store == nil {
		return nil, errors.New("signing: Clock, Logger and Store are required")
	}
	k := &Keyring{cfg: cfg}
	if err := k.Refresh(ctx); err != nil {
		return nil, err
	}
	return k, nil
}

// Refresh reloads keys from the store, drops expired ones and, when no key
// of the configured algorithm is active any more, generates the next one.
// The gateway calls it periodically (Run, started in gateway/run.go) and
// whenever another replica changed the keys (gateway/replicas.go); it is
// also how rotation happens.
//
// Every process sharing a store signs with the same key: of the keys
// whose signing window contains now, the oldest (CreatedAt, then ID).
// So should two processes store a key each at once (no Config.Lock),
// both sign with the first and the other is merely published.
func (k *Keyring) Refresh(ctx context.Context) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	now := k.cfg.Clock()
	if err := k.cfg.Store.DeleteExpiredSigningKeys(ctx, now); err != nil {
		return fmt.Errorf("signing: delete expired keys: %w", err)
	}
	st, err := k.load(ctx, now)
	if err != nil {
		return err
	}
	if st.active == nil {
		gen := func(ctx context.Context) error {
			st, err = k.generateNext(ctx)
			return err
		}
		if k.cfg.Lock != nil {
			err = k.cfg.Lock(ctx, gen)
		} else {
			err = gen(ctx)
		}
		if err != nil {
			return err
		}
	}
	k.state.Store(st)
	return nil
}

// generateNext re-reads the keys (under Config.Lock another process may
// just have stored one) and, if none is active still, generates and
// stores one. It returns the key set with an active key.
func (k *Keyring) generateNext(ctx context.Context) (*keyState, error) {
	now := k.cfg.Clock()
	st, err := k.load(ctx, now)
	if err != nil || st.active != nil {
		return st, err
	}
	nk, err := generate(k.cfg.Algorithm, now, k.cfg.RotateEvery, k.cfg.MaxTokenTTL)
	if err != nil {
		return nil, err
	}
	if err := k.cfg.Store.AddSigningKey(ctx, nk); err != nil && !errors.Is(err, store.ErrConflict) {
		return nil, fmt.Errorf("signing: store new key: %w", err)
	}
	k.cfg.Logger.Info("generated signing key", "kid", nk.ID, "alg", nk.Algorithm, "retire_at", nk.RetireAt)
	if st, err = k.load(ctx, now); err != nil {
		return nil, err
	}
	if st.active == nil {
		return nil, errors.New("signing: no active key after generating one")
	}
	return st, nil
}

// Run refreshes the keyring every interval until ctx ends, logging errors.
func (k *Keyring) Run(ctx context.Context, interval time.Duration) {
	loop.Every(ctx, interval, func(ctx context.Context) {
		if err := k.Refresh(ctx); err != nil {
			k.cfg.Logger.Error("refresh signing keys", "err", err)
		}
	})
}

func (k *Keyring) load(ctx context.Context, now time.Time) (*keyState, error) {
	stored, err := k.cfg.Store.SigningKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("signing: load keys: %w", err)
	}
	st := &keyState{byID: make(map[string]*key, len(stored))}
	var set jose.JSONWebKeySet
	for _, sk := range stored {
		if !now.Before(sk.ExpiresAt) {
			continue
		}
		kk, err := parse(sk)
		if err != nil {
			return nil, err
		}
		st.byID[sk.ID] = kk
		set.Keys = append(set.Keys, kk.public)
		if !slices.Contains(st.algs, kk.alg) {
			st.algs = append(st.algs, kk.alg)
		}
		// Of the keys of the configured algorithm whose signing window
		// contains now, the oldest (then the lowest ID) is the active
		// one: a choice every process sharing the store makes alike.
		if sk.Algorithm == k.cfg.Algorithm && !now.Before(sk.CreatedAt) && now.Before(sk.RetireAt) {
			if st.active == nil || signsFirst(sk, st.active.stored) {
				st.active = kk
			}
		}
	}
	if st.jwks, err = json.Marshal(set); err != nil {
		return nil, fmt.Errorf("signing: render JWKS: %w", err)
	}
	return st, nil
}

// signsFirst reports whether a should be chosen over b when both could
// sign: the older, then the one with the lower ID.
func signsFirst(a, b store.SigningKey) bool {
	if !a.CreatedAt.Equal(b.CreatedAt) {
		return a.CreatedAt.Before(b.CreatedAt)
	}
	return a.ID < b.ID
}

func generate(alg string, now time.Time, rotateEvery, maxTTL time.Duration) (store.SigningKey, error) {
	var priv crypto.Signer
	var err error
	switch alg {
	case "RS256":
		priv, err = rsa.GenerateKey(rand.Reader, 2048)
	case "ES256":
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "EdDSA":
		_, priv, err = ed25519.GenerateKey(rand.Reader)
	}
	if err != nil {
		return store.SigningKey{}, fmt.Errorf("signing: generate %s key: %w", alg, err)
	}
	jwk := jose.JSONWebKey{Key: priv, Algorithm: alg, Use: "sig"}
	// RFC 7638 thumbprint as kid: stable, unique, says nothing secret.
	pub := jwk.Public()
	tp, err := pub.Thumbprint(crypto.SHA256)
	if err != nil {
		return store.SigningKey{}, fmt.Errorf("signing: thumbprint: %w", err)
	}
	jwk.KeyID = base64.RawURLEncoding.EncodeToString(tp)
	raw, err := jwk.MarshalJSON()
	if err != nil {
		return store.SigningKey{}, fmt.Errorf("signing: encode key: %w", err)
	}
	now = now.Truncate(time.Millisecond)
	retire := now.Add(rotateEvery)
	return store.SigningKey{
		ID:         jwk.KeyID,
		Algorithm:  alg,
		PrivateJWK: raw,
		CreatedAt:  now,
		RetireAt:   retire,
		ExpiresAt:  retire.Add(maxTTL),
	}, nil
}

func parse(sk store.SigningKey) (*key, error) {
	var jwk jose.JSONWebKey
	if err := jwk.UnmarshalJSON(sk.PrivateJWK); err != nil {
		return nil, fmt.Errorf("signing: key %s: %w", sk.ID, err)
	}
	if jwk.IsPublic() || jwk.KeyID != sk.ID || jwk.Algorithm != sk.Algorithm {
		return nil, fmt.Errorf("signing: key %s: stored JWK does not match its record", sk.ID)
	}
	alg := jose.SignatureAlgorithm(sk.Algorithm)
	return &key{
		stored: sk,
		alg:    alg,
		public: jwk.Public(),
		signer: jose.SigningKey{Algorithm: alg, Key: jwk},
	}, nil
}

// ActiveAge is how long ago the key new tokens are signed with was made
// (erpgate_signing_key_age_seconds). It is read from the clock at each
// call, so when rotation fails (the store refuses the next key) the old
// key goes on signing and its age goes on growing.
func (k *Keyring) ActiveAge() time.Duration {
	return k.cfg.Clock().Sub(k.state.Load().active.stored.CreatedAt)
}

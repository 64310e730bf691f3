package bounded_test

import (
	"context"
	"errors"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/erpgate/erpgate/directory"
	"github.com/erpgate/erpgate/store"
	"github.com/erpgate/erpgate/store/bounded"
	"github.com/erpgate/erpgate/store/memory"
	"github.com/erpgate/erpgate/store/storetest"
)

// The wrapper changes nothing but the deadline: the conformance suite
// passes through it.
func TestBackend(t *testing.T) {
	storetest.RunTests(t, func(*testing.T) store.Backend { return bounded.New(memory.New(), time.Minute) })
}

// hung is a store that never answers: every operation waits for its
// context to end, as a query on a connection to a frozen host does with
// pgx, and records the deadline it was given.
type hung struct {
	mu        sync.Mutex
	deadlines []time.Time // zero: none
}

func (h *hung) wait(ctx context.Context) error {
	d, _ := ctx.Deadline()
	h.mu.Lock()
	h.deadlines = append(h.deadlines, d)
	h.mu.Unlock()
	<-ctx.Done()
	return ctx.Err()
}

func (h *hung) last() time.Time {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.deadlines[len(h.deadlines)-1]
}

var _ store.Backend = (*hung)(nil)

func (h *hung) Ping(ctx context.Context) error { return h.wait(ctx) }
func (h *hung) Close() error                   { return nil }
func (h *hung) SigningKeys(ctx context.Context) ([]store.SigningKey, error) {
	return nil, h.wait(ctx)
}
func (h *hung) AddSigningKey(ctx context.Context, _ store.SigningKey) error { return h.wait(ctx) }
func (h *hung) DeleteExpiredSigningKeys(ctx context.Context, _ time.Time) error {
	return h.wait(ctx)
}
func (h *hung) OpenSession(ctx context.Context, _ store.Session, _ store.License) (store.Session, error) {
	return store.Session{}, h.wait(ctx)
}
func (h *hung) Session(ctx context.Context, _ string) (store.Session, error) {
	return store.Session{}, h.wait(ctx)
}
func (h *hung) OpenSessions(ctx context.Context) ([]store.Session, error) { return nil, h.wait(ctx) }
func (h *hung) Usage(ctx context.Context) (store.Usage, error)            { return store.Usage{}, h.wait(ctx) }
func (h *hung) TouchSessions(ctx context.Context, _ map[string]time.Time) error {
	return h.wait(ctx)
}
func (h *hung) EndSession(ctx context.Context, _, _ string, _ time.Time) (store.Session, error) {
	return store.Session{}, h.wait(ctx)
}
func (h *hung) EndStaleSessions(ctx context.Context, _, _ time.Time) ([]store.Session, error) {
	return nil, h.wait(ctx)
}
func (h *hung) EndedSessionsSince(ctx context.Context, _ time.Time) ([]store.Session, error) {
	return nil, h.wait(ctx)
}
func (h *hung) Revoke(ctx context.Context, _ string, _, _ time.Time) error { return h.wait(ctx) }
func (h *hung) Revoked(ctx context.Context, _ string) (bool, error)        { return false, h.wait(ctx) }
func (h *hung) RevokedSince(ctx context.Context, _ time.Time) ([]store.Revocation, error) {
	return nil, h.wait(ctx)
}
func (h *hung) DeleteExpiredRevocations(ctx context.Context, _ time.Time) error { return h.wait(ctx) }
func (h *hung) SaveAuthCode(ctx context.Context, _ store.AuthCode) error        { return h.wait(ctx) }
func (h *hung) RedeemAuthCode(ctx context.Context, _ string, _ time.Time, _ string, _ time.Time) (store.AuthCode, error) {
	return store.AuthCode{}, h.wait(ctx)
}
func (h *hung) DeleteExpiredAuthCodes(ctx context.Context, _ time.Time) error { return h.wait(ctx) }
func (h *hung) SaveRefreshToken(ctx context.Context, _ store.RefreshToken) error {
	return h.wait(ctx)
}
func (h *hung) RefreshToken(ctx context.Context, _ string) (store.RefreshToken, error) {
	return store.RefreshToken{}, h.wait(ctx)
}
func (h *hung) RotateRefreshToken(ctx context.Context, _ string, _ time.Time, _ []byte, _ store.RefreshToken) (store.RefreshToken, error) {
	return store.RefreshToken{}, h.wait(ctx)
}
func (h *hung) RevokeRefreshFamily(ctx context.Context, _ string, _ time.Time) ([]store.IssuedToken, error) {
	return nil, h.wait(ctx)
}
func (h *hung) RevokeSessionRefreshTokens(ctx context.Context, _ string, _ time.Time) ([]store.IssuedToken, error) {
	return nil, h.wait(ctx)
}
func (h *hung) RevokeSubjectRefreshTokens(ctx context.Context, _ string, _ time.Time) ([]store.IssuedToken, error) {
	return nil, h.wait(ctx)
}
func (h *hung) DeleteExpiredRefreshTokens(ctx context.Context, _ time.Time) error { return h.wait(ctx) }
func (h *hung) SaveIdentitySession(ctx context.Context, _ store.IdentitySession) error {
	return h.wait(ctx)
}
func (h *hung) IdentitySession(ctx context.Context, _ string) (store.IdentitySession, error) {
	return store.IdentitySession{}, h.wait(ctx)
}
func (h *hung) EndIdentitySession(ctx context.Context, _ string, _ time.Time) error {
	return h.wait(ctx)
}
func (h *hung) EndSubjectIdentitySessions(ctx context.Context, _ string, _ time.Time) ([]string, error) {
	return nil, h.wait(ctx)
}
func (h *hung) IdentitySessionsOf(ctx context.Context, _ string, _ time.Time) ([]store.IdentitySession, error) {
	return nil, h.wait(ctx)
}
func (h *hung) SaveConsent(ctx context.Context, _ store.Consent) error { return h.wait(ctx) }
func (h *hung) Consent(ctx context.Context, _, _ string) (store.Consent, error) {
	return store.Consent{}, h.wait(ctx)
}
func (h *hung) ConsentsOf(ctx context.Context, _ string) ([]store.Consent, error) {
	return nil, h.wait(ctx)
}
func (h *hung) RevokeConsent(ctx context.Context, _, _ string) error { return h.wait(ctx) }
func (h *hung) CreateApp(ctx context.Context, _ directory.App) error { return h.wait(ctx) }
func (h *hung) App(ctx context.Context, _ string) (directory.App, error) {
	return directory.App{}, h.wait(ctx)
}
func (h *hung) Apps(ctx context.Context) ([]directory.App, error)    { return nil, h.wait(ctx) }
func (h *hung) UpdateApp(ctx context.Context, _ directory.App) error { return h.wait(ctx) }
func (h *hung) AppsChangedSince(ctx context.Context, _ time.Time) ([]directory.App, error) {
	return nil, h.wait(ctx)
}
func (h *hung) SaveReferenceToken(ctx context.Context, _ store.ReferenceToken) error {
	return h.wait(ctx)
}
func (h *hung) ReferenceTokenByHash(ctx context.Context, _ string) (store.ReferenceToken, error) {
	return store.ReferenceToken{}, h.wait(ctx)
}
func (h *hung) ReferenceToken(ctx context.Context, _ string) (store.ReferenceToken, error) {
	return store.ReferenceToken{}, h.wait(ctx)
}
func (h *hung) ReferenceTokens(ctx context.Context, _ string) ([]store.ReferenceToken, error) {
	return nil, h.wait(ctx)
}
func (h *hung) RevokeReferenceToken(ctx context.Context, _ string, _ time.Time) (store.ReferenceToken, error) {
	return store.ReferenceToken{}, h.wait(ctx)
}
func (h *hung) TouchReferenceTokens(ctx context.Context, _ map[string]time.Time) error {
	return h.wait(ctx)
}
func (h *hung) SavePasswordChange(ctx context.Context, _ directory.PasswordChange) error {
	return h.wait(ctx)
}
func (h *hung) PasswordChangesSince(ctx context.Context, _ time.Time) ([]directory.PasswordChange, error) {
	return nil, h.wait(ctx)
}
func (h *hung) CreateUser(ctx context.Context, _ directory.User) error { return h.wait(ctx) }
func (h *hung) User(ctx context.Context, _ string) (directory.User, error) {
	return directory.User{}, h.wait(ctx)
}
func (h *hung) Users(ctx context.Context) ([]directory.User, error)         { return nil, h.wait(ctx) }
func (h *hung) UpdateUser(ctx context.Context, _ directory.User) error      { return h.wait(ctx) }
func (h *hung) DeleteUser(ctx context.Context, _ string, _ time.Time) error { return h.wait(ctx) }
func (h *hung) UsersChangedSince(ctx context.Context, _ time.Time) ([]directory.User, error) {
	return nil, h.wait(ctx)
}
func (h *hung) SavePasswordReset(ctx context.Context, _ store.PasswordReset) error {
	return h.wait(ctx)
}
func (h *hung) PasswordReset(ctx context.Context, _ string) (store.PasswordReset, error) {
	return store.PasswordReset{}, h.wait(ctx)
}
func (h *hung) UsePasswordReset(ctx context.Context, _ string, _ time.Time) (store.PasswordReset, error) {
	return store.PasswordReset{}, h.wait(ctx)
}

// call invokes the method m of b with ctx and zero values for the other
// arguments, and returns the error it returned.
func call(b store.Backend, m reflect.Method, ctx context.Context) error {
	fn := reflect.ValueOf(b).MethodByName(m.Name)
	args := make([]reflect.Value, fn.Type().NumIn())
	for i := range args {
		in := fn.Type().In(i)
		if in == reflect.TypeFor[context.Context]() {
			args[i] = reflect.ValueOf(ctx)
		} else {
			args[i] = reflect.Zero(in)
		}
	}
	out := fn.Call(args)
	err, _ := out[len(out)-1].Interface().(error)
	return err
}

// Every operation of store.Backend that takes a context returns once the
// store's timeout passed, with an error that is ErrTimeout and
// context.DeadlineExceeded, even though the backend never answers.
func TestEveryOperationIsBounded(t *testing.T) {
	const timeout = 20 * time.Millisecond
	h := &hung{}
	b := bounded.New(h, timeout)
	ctxType := reflect.TypeFor[context.Context]()
	bt := reflect.TypeFor[store.Backend]()
	n := 0
	for i := range bt.NumMethod() {
		m := bt.Method(i)
		if m.Type.NumIn() == 0 || m.Type.In(0) != ctxType {
			if m.Name != "Close" {
				t.Errorf("%s takes no context first; it cannot be bounded", m.Name)
			}
			continue
		}
		n++
		t.Run(m.Name, func(t *testing.T) {
			before := time.Now()
			err := call(b, m, context.Background())
			if !errors.Is(err, bounded.ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("%s on a store that never answers: %v; want ErrTimeout and context.DeadlineExceeded", m.Name, err)
			}
			if d := h.last(); d.IsZero() || d.Before(before) || d.After(time.Now().Add(timeout)) {
				t.Errorf("%s ran with deadline %v; want one about %s after the call", m.Name, d, timeout)
			}
		})
	}
	if n < 40 {
		t.Errorf("only %d operations checked; store.Backend has more", n)
	}
}

// A caller's shorter deadline or its cancellation is the caller's: the
// error is the context's, not ErrTimeout.
func TestCallerContextWins(t *testing.T) {
	b := bounded.New(&hung{}, time.Hour)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Millisecond)
	defer cancel()
	_, err := b.Session(ctx, "s")
	if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, bounded.ErrTimeout) {
		t.Errorf("caller's deadline: %v; want the caller's context.DeadlineExceeded, not ErrTimeout", err)
	}

	ctx, cancel = context.WithCancel(t.Context())
	go cancel()
	if err := b.Ping(ctx); !errors.Is(err, context.Canceled) || errors.Is(err, bounded.ErrTimeout) {
		t.Errorf("caller gone: %v; want context.Canceled", err)
	}
}

// WithOperationTimeout gives the operations under a context another
// deadline than the store's.
func TestWithOperationTimeout(t *testing.T) {
	h := &hung{}
	b := bounded.New(h, time.Millisecond)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := make(chan error, 1)
	before := time.Now()
	go func() { done <- b.DeleteExpiredRevocations(bounded.WithOperationTimeout(ctx, time.Hour), before) }()
	var d time.Time
	for d.IsZero() { // wait for the operation to start
		h.mu.Lock()
		if len(h.deadlines) > 0 {
			d = h.deadlines[0]
		}
		h.mu.Unlock()
		time.Sleep(time.Millisecond)
	}
	if d.Before(before.Add(time.Hour)) {
		t.Errorf("deadline %v under WithOperationTimeout(1h); want an hour away", d)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("after cancel: %v", err)
	}

	// d <= 0 leaves the store's timeout.
	if err := b.Ping(bounded.WithOperationTimeout(t.Context(), 0)); !errors.Is(err, bounded.ErrTimeout) {
		t.Errorf("WithOperationTimeout(0): %v; want the store's timeout", err)
	}
}

// slow answers after a while: an answer within the timeout is the
// backend's, unchanged.
type slow struct {
	store.Backend
	delay time.Duration
}

func (s slow) Session(ctx context.Context, id string) (store.Session, error) {
	select {
	case <-time.After(s.delay):
		return s.Backend.Session(ctx, id)
	case <-ctx.Done():
		return store.Session{}, ctx.Err()
	}
}

func TestSlowAnswerWithinTimeout(t *testing.T) {
	b := bounded.New(slow{memory.New(), 5 * time.Millisecond}, time.Minute)
	if _, err := b.Session(t.Context(), "none"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Session of an unknown id through a slow store: %v; want store.ErrNotFound", err)
	}
	b = bounded.New(slow{memory.New(), time.Hour}, 5*time.Millisecond)
	if _, err := b.Session(t.Context(), "none"); !errors.Is(err, bounded.ErrTimeout) || errors.Is(err, store.ErrNotFound) {
		t.Errorf("Session through a store slower than the timeout: %v; want ErrTimeout", err)
	}
}

func TestNewRefusesNoTimeout(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("New with a zero timeout did not panic")
		}
	}()
	bounded.New(memory.New(), 0)
}
func (h *hung) RecordSessionClient(ctx context.Context, _ store.SessionClient) error {
	return h.wait(ctx)
}
func (h *hung) TakeSessionClients(ctx context.Context, _ string) ([]store.SessionClient, error) {
	return nil, h.wait(ctx)
}
func (h *hung) DeleteStaleSessionClients(ctx context.Context, _ time.Time) error {
	return h.wait(ctx)
}
func (h *hung) FederatedLink(ctx context.Context, _, _ string) (store.FederatedLink, error) {
	return store.FederatedLink{}, h.wait(ctx)
}
func (h *hung) SaveFederatedLink(ctx context.Context, _ store.FederatedLink) error {
	return h.wait(ctx)
}
func (h *hung) FederatedLinksOf(ctx context.Context, _ string) ([]store.FederatedLink, error) {
	return nil, h.wait(ctx)
}
func (h *hung) DeleteFederatedLinks(ctx context.Context, _ string) error { return h.wait(ctx) }
func (h *hung) TOTP(ctx context.Context, _ string) (store.TOTPFactor, error) {
	return store.TOTPFactor{}, h.wait(ctx)
}
func (h *hung) SaveTOTP(ctx context.Context, _ store.TOTPFactor) error { return h.wait(ctx) }
func (h *hung) ConfirmTOTP(ctx context.Context, _, _ string, _ int64, _ time.Time) error {
	return h.wait(ctx)
}
func (h *hung) UseTOTPStep(ctx context.Context, _ string, _ int64) error { return h.wait(ctx) }
func (h *hung) SaveRecoveryCodes(ctx context.Context, _ string, _ []string, _ time.Time) error {
	return h.wait(ctx)
}
func (h *hung) RecoveryCodes(ctx context.Context, _ string) ([]string, error) {
	return nil, h.wait(ctx)
}
func (h *hung) UseRecoveryCode(ctx context.Context, _, _ string) error { return h.wait(ctx) }
func (h *hung) DeleteFactors(ctx context.Context, _ string) error      { return h.wait(ctx) }
func (h *hung) SavePasskey(ctx context.Context, _ store.Passkey) error { return h.wait(ctx) }
func (h *hung) Passkeys(ctx context.Context, _ string) ([]store.Passkey, error) {
	return nil, h.wait(ctx)
}
func (h *hung) PasskeyByCredentialID(ctx context.Context, _ []byte) (store.Passkey, error) {
	return store.Passkey{}, h.wait(ctx)
}
func (h *hung) UpdatePasskeyUse(ctx context.Context, _ []byte, _ uint32, _ time.Time) error {
	return h.wait(ctx)
}
func (h *hung) RenamePasskey(ctx context.Context, _ string, _ []byte, _ string) error {
	return h.wait(ctx)
}
func (h *hung) DeletePasskey(ctx context.Context, _ string, _ []byte) error { return h.wait(ctx) }

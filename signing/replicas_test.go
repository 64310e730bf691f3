package signing

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/erpgate/erpgate/store/memory"
)

// mutexLock is Config.Lock for processes sharing one memory store: what
// the postgres store's advisory lock is across replicas.
func mutexLock(mu *sync.Mutex) func(context.Context, func(context.Context) error) error {
	return func(ctx context.Context, f func(context.Context) error) error {
		mu.Lock()
		defer mu.Unlock()
		return f(ctx)
	}
}

// Replicas starting together on an empty store end with one key, which
// all of them sign with.
func TestReplicasStartTogetherWithLock(t *testing.T) {
	st := memory.New()
	var mu sync.Mutex
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	const n = 8
	rings := make([]*Keyring, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			rings[i], errs[i] = Open(context.Background(), Config{
				Algorithm: "ES256", RotateEvery: 24 * time.Hour, MaxTokenTTL: time.Hour,
				Store: st, Lock: mutexLock(&mu), Clock: func() time.Time { return now },
				Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
			})
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("replica %d: Open: %v", i, err)
		}
	}
	keys, err := st.SigningKeys(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 1 {
		t.Fatalf("%d keys stored by %d replicas starting together, want 1", len(keys), n)
	}
	for i, k := range rings {
		if k.ActiveKeyID() != keys[0].ID {
			t.Errorf("replica %d signs with %s, want the one stored key %s", i, k.ActiveKeyID(), keys[0].ID)
		}
	}
}

// Without a lock two replicas may each store a key; both then sign with
// the oldest (ties: the lower ID) once they have read both, and publish
// both.
func TestActiveKeyIsTheOldest(t *testing.T) {
	st := memory.New()
	c := &clock{time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	a := open(t, st, c, "ES256")
	first := a.ActiveKeyID()

	// Replica B generated a moment before A but stored its key after.
	early, err := generate("ES256", c.now.Add(-time.Millisecond), 24*time.Hour, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.AddSigningKey(context.Background(), early); err != nil {
		t.Fatal(err)
	}
	if err := a.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	if a.ActiveKeyID() != early.ID {
		t.Errorf("after reading both keys A signs with %s, want the older %s", a.ActiveKeyID(), early.ID)
	}
	if b := open(t, st, c, "ES256"); b.ActiveKeyID() != a.ActiveKeyID() {
		t.Errorf("a third replica signs with %s, A with %s", b.ActiveKeyID(), a.ActiveKeyID())
	}
	if kids := jwksKids(t, a); len(kids) != 2 {
		t.Errorf("JWKS = %v, want both keys (%s, %s)", kids, first, early.ID)
	}

	// Same CreatedAt: the lower ID.
	st2 := memory.New()
	k1, _ := generate("ES256", c.now, 24*time.Hour, time.Hour)
	k2, _ := generate("ES256", c.now, 24*time.Hour, time.Hour)
	_ = st2.AddSigningKey(context.Background(), k1)
	_ = st2.AddSigningKey(context.Background(), k2)
	want := min(k1.ID, k2.ID)
	if got := open(t, st2, c, "ES256").ActiveKeyID(); got != want {
		t.Errorf("with two keys created at once the active key is %s, want the lower ID %s", got, want)
	}
}

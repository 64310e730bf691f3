package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"github.com/erpgate/erpgate/directory"
	"io"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/erpgate/erpgate/signing"
	"github.com/erpgate/erpgate/store"
)

// notifyWait bounds how long a notification may take: SPEC §9's second.
const notifyWait = time.Second

var discard = slog.New(slog.NewTextHandler(io.Discard, nil))

// withParam returns dsn (URL or keyword/value) with a run-time parameter
// set, as withSearchPath does for search_path.
func withParam(t testing.TB, dsn, key, value string) string {
	t.Helper()
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			t.Fatal(err)
		}
		q := u.Query()
		q.Set(key, value)
		u.RawQuery = q.Encode()
		return u.String()
	}
	return dsn + " " + key + "=" + value
}

// uniqueAppName returns an application_name no other test uses, so a test
// can terminate exactly its own connections.
func uniqueAppName() string {
	b := make([]byte, 6)
	rand.Read(b)
	return "erpgate-test-" + hex.EncodeToString(b)
}

// terminate ends every server connection with application_name app, as
// an administrator's pg_terminate_backend or a server restart would.
func terminate(t *testing.T, app string) {
	t.Helper()
	if err := adminExec(t.Context(), `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
		WHERE application_name = $1 AND pid <> pg_backend_pid()`, app); err != nil {
		t.Fatalf("pg_terminate_backend: %v", err)
	}
}

// listener runs s.Listen until the test ends and collects the topics.
type listener struct {
	t      *testing.T
	topics chan string
}

func listen(t *testing.T, s *Store) *listener {
	t.Helper()
	l := &listener{t: t, topics: make(chan string, 100)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.Listen(ctx, func(topic string) {
			select {
			case l.topics <- topic:
			default:
				t.Errorf("listener: topic %s dropped, the test reads too slowly", topic)
			}
		}, discard)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Error("Listen did not return after its context ended")
		}
	})
	return l
}

// expect waits for topic and returns what arrived before it.
func (l *listener) expect(topic string) []string {
	l.t.Helper()
	var before []string
	deadline := time.After(notifyWait)
	for {
		select {
		case got := <-l.topics:
			if got == topic {
				return before
			}
			before = append(before, got)
		case <-deadline:
			l.t.Fatalf("no %q notification within %s (got %v)", topic, notifyWait, before)
		}
	}
}

// expectAll waits for one of every topic: what Listen reports each time
// its connection is established.
func (l *listener) expectAll() {
	l.t.Helper()
	want := map[string]bool{}
	for _, tp := range Topics {
		want[tp] = true
	}
	deadline := time.After(5 * time.Second)
	for len(want) > 0 {
		select {
		case got := <-l.topics:
			delete(want, got)
		case <-deadline:
			l.t.Fatalf("Listen did not report every topic on connecting; missing %v", want)
		}
	}
}

// drain empties the queue after a quiet moment.
func (l *listener) drain() []string {
	var got []string
	for {
		select {
		case tp := <-l.topics:
			got = append(got, tp)
		case <-time.After(100 * time.Millisecond):
			return got
		}
	}
}

// TestListenTopics: what one replica writes, another hears about within
// a second, by topic; what does not change others' view (a last-seen
// time) and what another schema writes is not reported.
func TestListenTopics(t *testing.T) {
	rs := openReplicas(t, 2)
	a, b := rs[0], rs[1]
	l := listen(t, a)
	l.expectAll()
	ctx := t.Context()
	now := time.Now()

	if err := b.Revoke(ctx, "jti-1", now.Add(time.Hour), now); err != nil {
		t.Fatal(err)
	}
	l.expect(TopicRevocations)

	s := store.Session{ID: "sid-1", Subject: "alice", ClientID: "app", Kind: store.SessionUser, OpenedAt: now, LastSeenAt: now}
	if _, err := b.OpenSession(ctx, s, store.License{}); err != nil {
		t.Fatal(err)
	}
	if err := b.TouchSessions(ctx, map[string]time.Time{"sid-1": now.Add(time.Second)}); err != nil {
		t.Fatal(err)
	}
	if got := l.drain(); len(got) != 0 {
		t.Errorf("opening and touching a session notified %v; want nothing", got)
	}
	if _, err := b.EndSession(ctx, "sid-1", store.EndAdmin, now); err != nil {
		t.Fatal(err)
	}
	l.expect(TopicSessions)
	// A tombstone (logout before any call) is an end too.
	if _, err := b.EndSession(ctx, "sid-unknown", store.EndLogout, now); err != nil {
		t.Fatal(err)
	}
	l.expect(TopicSessions)

	app := directory.App{ID: "urn:app:new", Name: "New", Enabled: true, CreatedAt: now, UpdatedAt: now}
	if err := b.CreateApp(ctx, app); err != nil {
		t.Fatal(err)
	}
	l.expect(TopicApps)
	app.Enabled, app.UpdatedAt = false, now.Add(time.Second)
	if err := b.UpdateApp(ctx, app); err != nil {
		t.Fatal(err)
	}
	l.expect(TopicApps)
	// A user's own password is the directory's too.
	pc := directory.PasswordChange{Login: "alice", Hash: "new", Replaces: "file", ChangedAt: now}
	if err := b.SavePasswordChange(ctx, pc); err != nil {
		t.Fatal(err)
	}
	l.expect(TopicApps)
	pc.Hash, pc.ChangedAt = "newer", now.Add(time.Second)
	if err := b.SavePasswordChange(ctx, pc); err != nil {
		t.Fatal(err)
	}
	l.expect(TopicApps)
	// A stored user created, disabled and deleted: each is a users
	// change, the deletion (a tombstone) too; a reset link is not.
	u := directory.User{Login: "bob", ID: "id-bob", Type: directory.TypeInternal, CreatedAt: now, UpdatedAt: now}
	if err := b.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	l.expect(TopicUsers)
	u.Disabled, u.UpdatedAt = true, now.Add(time.Second)
	if err := b.UpdateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	l.expect(TopicUsers)
	if err := b.SavePasswordReset(ctx, store.PasswordReset{Hash: "h", Login: "bob", CreatedAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if got := l.drain(); len(got) != 0 {
		t.Errorf("saving a reset link notified %v; want nothing", got)
	}
	if err := b.DeleteUser(ctx, "bob", now.Add(2*time.Second)); err != nil {
		t.Fatal(err)
	}
	l.expect(TopicUsers)

	k := store.SigningKey{ID: "k1", Algorithm: "ES256", PrivateJWK: []byte("{}"), CreatedAt: now,
		RetireAt: now.Add(time.Hour), ExpiresAt: now.Add(2 * time.Hour)}
	if err := b.AddSigningKey(ctx, k); err != nil {
		t.Fatal(err)
	}
	l.expect(TopicKeys)

	// Another erpgate in another schema of the same database.
	other := mustOpen(t, schemaDSN(t))
	defer other.Close()
	if err := other.CreateApp(ctx, directory.App{ID: "urn:app:other", CreatedAt: now, UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}
	if err := b.Revoke(ctx, "jti-2", now.Add(time.Hour), now); err != nil {
		t.Fatal(err)
	}
	if before := l.expect(TopicRevocations); len(before) != 0 {
		t.Errorf("a write in another schema notified %v", before)
	}
}

// TestListenReconnects: when the server drops the listening connection
// (pg_terminate_backend, a restart), Listen connects again, reports every
// topic (what was written meanwhile went unheard) and goes on.
func TestListenReconnects(t *testing.T) {
	app := uniqueAppName()
	dsn := withParam(t, schemaDSN(t), "application_name", app)
	a, b := mustOpen(t, dsn), mustOpen(t, dsn)
	defer a.Close()
	defer b.Close()
	l := listen(t, a)
	l.expectAll()

	for range 2 {
		terminate(t, app)
		l.expectAll()
		now := time.Now()
		// The pool of b had its connections dropped too; the first
		// statement may fail on one of them.
		var err error
		for range 5 {
			if err = b.Revoke(t.Context(), "jti-"+now.String(), now.Add(time.Hour), now); err == nil {
				break
			}
		}
		if err != nil {
			t.Fatalf("Revoke after the connections were dropped: %v", err)
		}
		l.expect(TopicRevocations)
	}
}

// TestLockKeys: f runs under LockKeys in one replica at a time.
func TestLockKeys(t *testing.T) {
	rs := openReplicas(t, 3)
	var inside, most atomic.Int32
	var wg sync.WaitGroup
	for _, s := range rs {
		wg.Go(func() {
			for range 3 {
				err := s.LockKeys(t.Context(), func(context.Context) error {
					n := inside.Add(1)
					if n > most.Load() {
						most.Store(n)
					}
					time.Sleep(10 * time.Millisecond)
					inside.Add(-1)
					return nil
				})
				if err != nil {
					t.Errorf("LockKeys: %v", err)
				}
			}
		})
	}
	wg.Wait()
	if most.Load() != 1 {
		t.Fatalf("%d replicas inside LockKeys at once, want 1", most.Load())
	}
}

// TestKeyringsStartTogether: replicas starting together on an empty
// database with LockKeys as the keyring's lock store one signing key
// and all sign with it.
func TestKeyringsStartTogether(t *testing.T) {
	const n = 4
	rs := openReplicas(t, n)
	type result struct {
		kid string
		err error
	}
	res := race(n, func(i int) result {
		k, err := signing.Open(t.Context(), signing.Config{
			Algorithm: "ES256", RotateEvery: 24 * time.Hour, MaxTokenTTL: time.Hour,
			Store: rs[i], Lock: rs[i].LockKeys, Clock: time.Now, Logger: discard,
		})
		if err != nil {
			return result{err: err}
		}
		return result{kid: k.ActiveKeyID()}
	})
	keys, err := rs[0].SigningKeys(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 1 {
		t.Fatalf("%d signing keys after %d replicas started together, want 1", len(keys), n)
	}
	for i, r := range res {
		if r.err != nil || r.kid != keys[0].ID {
			t.Errorf("replica %d: kid %q, err %v; want %s", i, r.kid, r.err, keys[0].ID)
		}
	}
}

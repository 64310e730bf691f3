package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/erpgate/erpgate/store"
	"github.com/erpgate/erpgate/store/sqlstore"
	"github.com/erpgate/erpgate/store/storetest"
)

// The tests run against a real server: ERPGATE_TEST_POSTGRES_DSN, or a
// local one with trust authentication. Each test works in a schema of
// its own, dropped when it ends, so runs and packages never collide.
const (
	dsnEnv     = "ERPGATE_TEST_POSTGRES_DSN"
	defaultDSN = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
)

func baseDSN() string {
	if dsn := os.Getenv(dsnEnv); dsn != "" {
		return dsn
	}
	return defaultDSN
}

var (
	serverOnce sync.Once
	serverErr  error
)

// requireServer skips t when no server answers, or fails it in CI
// (CI=true), where a missing server is a broken setup, not a choice.
func requireServer(t testing.TB) {
	t.Helper()
	serverOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, baseDSN())
		if err != nil {
			serverErr = err
			return
		}
		serverErr = conn.Ping(ctx)
		conn.Close(ctx)
	})
	if serverErr != nil {
		msg := fmt.Sprintf("no PostgreSQL server for the tests (set %s; default %s): %v", dsnEnv, defaultDSN, serverErr)
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
}

// adminExec runs sql on a connection of its own to the base DSN.
func adminExec(ctx context.Context, sql string, args ...any) error {
	conn, err := pgx.Connect(ctx, baseDSN())
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, sql, args...)
	return err
}

// newSchema creates an empty schema for t, dropped (with everything in
// it) when t ends, and returns its name.
func newSchema(t testing.TB) string {
	t.Helper()
	requireServer(t)
	b := make([]byte, 8)
	rand.Read(b)
	name := "erpgate_test_" + hex.EncodeToString(b)
	if err := adminExec(t.Context(), "CREATE SCHEMA "+pgx.Identifier{name}.Sanitize()); err != nil {
		t.Fatalf("CREATE SCHEMA: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := adminExec(ctx, "DROP SCHEMA "+pgx.Identifier{name}.Sanitize()+" CASCADE"); err != nil {
			t.Errorf("DROP SCHEMA %s: %v", name, err)
		}
	})
	return name
}

// withSearchPath returns dsn (URL or keyword/value) with search_path
// set to schema, a run-time parameter pgx sends when it connects.
func withSearchPath(t testing.TB, dsn, schema string) string {
	t.Helper()
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			t.Fatalf("%s: %v", dsnEnv, err)
		}
		q := u.Query()
		q.Set("search_path", schema)
		u.RawQuery = q.Encode()
		return u.String()
	}
	return dsn + " search_path=" + schema
}

// schemaDSN returns the DSN of a new schema for t.
func schemaDSN(t testing.TB) string {
	t.Helper()
	return withSearchPath(t, baseDSN(), newSchema(t))
}

func mustOpen(t *testing.T, dsn string) *Store {
	t.Helper()
	s, err := Open(t.Context(), dsn)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s
}

// openReplicas opens n stores, each with its own pool, on one new
// schema: what n gateway replicas sharing a database look like to the
// server.
func openReplicas(t *testing.T, n int) []*Store {
	t.Helper()
	dsn := schemaDSN(t)
	out := make([]*Store, n)
	for i := range out {
		out[i] = mustOpen(t, dsn)
		t.Cleanup(func() { out[i].Close() })
	}
	return out
}

func TestBackend(t *testing.T) {
	storetest.RunTests(t, func(t *testing.T) store.Backend { return mustOpen(t, schemaDSN(t)) })
}

// race runs f(i) for i in [0,n) on n goroutines released together.
func race[T any](n int, f func(i int) T) []T {
	out := make([]T, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			out[i] = f(i)
		})
	}
	close(start)
	wg.Wait()
	return out
}

// TestMigrateConcurrently starts four replicas on a new schema at once:
// all open, and each migration is applied and recorded once.
func TestMigrateConcurrently(t *testing.T) {
	dsn := schemaDSN(t)
	const n = 4
	type result struct {
		s   *Store
		err error
	}
	res := race(n, func(int) result {
		s, err := Open(t.Context(), dsn)
		return result{s, err}
	})
	for i, r := range res {
		if r.err != nil {
			t.Fatalf("replica %d: Open: %v", i, r.err)
		}
		defer r.s.Close()
	}

	ms, err := migrationSet.Migrations()
	if err != nil {
		t.Fatal(err)
	}
	check := func(what string) {
		t.Helper()
		rows, err := res[0].s.pool.Query(t.Context(), "SELECT version, name FROM schema_migrations ORDER BY version")
		if err != nil {
			t.Fatal(err)
		}
		type applied struct {
			version int
			name    string
		}
		got, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (applied, error) {
			var a applied
			return a, row.Scan(&a.version, &a.name)
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(ms) {
			t.Fatalf("%s: schema_migrations has %d rows, want %d: %v", what, len(got), len(ms), got)
		}
		for i, m := range ms {
			if got[i].version != m.Version || got[i].name != m.Name {
				t.Errorf("%s: schema_migrations[%d] = %v, want %d %s", what, i, got[i], m.Version, m.Name)
			}
		}
	}
	check("after concurrent Open")

	// Every replica works on the one schema.
	for i, r := range res {
		if err := r.s.Ping(t.Context()); err != nil {
			t.Errorf("replica %d: Ping: %v", i, err)
		}
	}
	// A later start applies nothing.
	mustOpen(t, dsn).Close()
	check("after another Open")
}

func TestNewerSchemaRefused(t *testing.T) {
	dsn := schemaDSN(t)
	s := mustOpen(t, dsn)
	if _, err := s.pool.Exec(t.Context(),
		"INSERT INTO schema_migrations (version, name, applied_at) VALUES (9999, 'future.sql', now())"); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if s, err := Open(t.Context(), dsn); err == nil {
		s.Close()
		t.Fatal("Open of a schema from a newer erpgate succeeded")
	} else if !strings.Contains(err.Error(), "newer") {
		t.Fatalf("Open: err = %v, want it to say the schema is newer", err)
	}
}

// TestKeywordValueDSN opens with a keyword/value DSN built from the test
// server's settings, and checks the tables land in the schema named by
// its search_path.
func TestKeywordValueDSN(t *testing.T) {
	schema := newSchema(t)
	cfg, err := pgx.ParseConfig(baseDSN())
	if err != nil {
		t.Fatal(err)
	}
	quote := func(s string) string {
		return "'" + strings.ReplaceAll(strings.ReplaceAll(s, `\`, `\\`), `'`, `\'`) + "'"
	}
	kv := fmt.Sprintf("host=%s port=%d user=%s dbname=%s sslmode=prefer",
		quote(cfg.Host), cfg.Port, quote(cfg.User), quote(cfg.Database))
	if cfg.Password != "" {
		kv += " password=" + quote(cfg.Password)
	}
	s := mustOpen(t, withSearchPath(t, kv, schema))
	defer s.Close()

	now := time.Date(2025, time.March, 14, 9, 26, 53, 589_000_000, time.UTC)
	if err := s.AddSigningKey(t.Context(), store.SigningKey{ID: "k1", Algorithm: "EdDSA",
		PrivateJWK: []byte(`{}`), CreatedAt: now, RetireAt: now, ExpiresAt: now}); err != nil {
		t.Fatalf("AddSigningKey: %v", err)
	}
	var n int
	if err := s.pool.QueryRow(t.Context(),
		"SELECT count(*) FROM information_schema.tables WHERE table_schema = $1 AND table_name = 'signing_keys'",
		schema).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Fatalf("signing_keys is not in schema %s", schema)
	}
}

// TestOpenBadDSN checks a DSN that cannot be parsed is refused without
// quoting it, since it may hold a password (SPEC §8).
func TestOpenBadDSN(t *testing.T) {
	for _, dsn := range []string{"", "postgres://erpgate:hunter2@db.example:notaport/erpgate"} {
		s, err := Open(t.Context(), dsn)
		if err == nil {
			s.Close()
			t.Fatalf("Open(%q) succeeded", dsn)
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("Open error quotes the password: %v", err)
		}
	}
}

var t0 = time.Date(2025, time.March, 14, 9, 26, 53, 589_000_000, time.UTC)

// TestReplicasLicenseCap races OpenSession from two replicas (two pools)
// at the cap, round after round: exactly the free slots are taken.
func TestReplicasLicenseCap(t *testing.T) {
	reps := openReplicas(t, 2)
	const rounds, n, slots = 5, 40, 5
	lic := store.License{Slots: slots, Reserved: 1}
	for round := range rounds {
		now := t0.Add(time.Duration(round) * time.Hour)
		res := race(n, func(i int) error {
			id := fmt.Sprintf("r%d-sid-%02d", round, i)
			// A reserved subject every fifth call: the reserved seat may
			// go to one of them or stay free, never to another.
			_, err := reps[i%2].OpenSession(t.Context(), store.Session{ID: id, Subject: id,
				Kind: store.SessionUser, Reserved: i%5 == 0, OpenedAt: now, LastSeenAt: now}, lic)
			return err
		})
		opened, exhausted := tallyOpens(t, res)
		open, err := reps[1].OpenSessions(t.Context())
		if err != nil {
			t.Fatalf("OpenSessions: %v", err)
		}
		reserved := 0
		for _, s := range open {
			if s.Reserved {
				reserved++
			}
		}
		// Slots 5 with 1 reserved: 4 shared slots for anyone, the fifth
		// only for a reserved subject (and 8 of the 40 are reserved).
		if opened != slots || exhausted != n-slots || len(open) != slots || len(open)-reserved > slots-1 {
			t.Fatalf("round %d: %d opened, %d ErrLicenseExhausted, %d open of which %d reserved; want %d opened, %d refused, at most %d not reserved",
				round, opened, exhausted, len(open), reserved, slots, n-slots, slots-1)
		}
		// Free every slot for the next round.
		if _, err := reps[0].EndStaleSessions(t.Context(), now.Add(time.Hour), now.Add(time.Hour)); err != nil {
			t.Fatalf("EndStaleSessions: %v", err)
		}
	}
}

// TestReplicasOpenSameID races the first call of one token on two
// replicas: one session, one slot, every caller gets it.
func TestReplicasOpenSameID(t *testing.T) {
	reps := openReplicas(t, 2)
	for _, lic := range []store.License{{Slots: 1}, {}} {
		id := fmt.Sprintf("sid-%d", lic.Slots)
		type result struct {
			s   store.Session
			err error
		}
		res := race(30, func(i int) result {
			now := t0.Add(time.Duration(i) * time.Millisecond)
			s, err := reps[i%2].OpenSession(t.Context(), store.Session{ID: id, Subject: "alice",
				OpenedAt: now, LastSeenAt: now}, lic)
			return result{s, err}
		})
		stored, err := reps[0].Session(t.Context(), id)
		if err != nil {
			t.Fatalf("Session: %v", err)
		}
		for i, r := range res {
			if r.err != nil || !r.s.OpenedAt.Equal(stored.OpenedAt) {
				t.Fatalf("%+v: caller %d: OpenSession = %+v, %v; want the stored %+v", lic, i, r.s, r.err, stored)
			}
		}
	}
	open, err := reps[0].OpenSessions(t.Context())
	if err != nil || len(open) != 2 {
		t.Fatalf("OpenSessions = %d sessions, %v; want 2", len(open), err)
	}
}

func testToken(hash, family string) store.RefreshToken {
	return store.RefreshToken{Hash: hash, FamilyID: family, ClientID: "urn:app", Subject: "alice",
		SessionID: "sid-1", Scopes: []string{"openid"}, CreatedAt: t0, ExpiresAt: t0.Add(24 * time.Hour),
		AccessTokenID: "jti-" + hash, AccessExpiresAt: t0.Add(time.Hour)}
}

// TestReplicasRotateOnce races RotateRefreshToken (and RedeemAuthCode)
// for one token (code) from two replicas: exactly one winner, and every
// loser sees what the winner stored.
func TestReplicasRotateOnce(t *testing.T) {
	reps := openReplicas(t, 2)
	const rounds, n = 5, 20
	for round := range rounds {
		hash := fmt.Sprintf("r%d", round)
		if err := reps[0].SaveRefreshToken(t.Context(), testToken(hash, "fam-"+hash)); err != nil {
			t.Fatalf("SaveRefreshToken: %v", err)
		}
		type result struct {
			rt  store.RefreshToken
			err error
		}
		res := race(n, func(i int) result {
			rt, err := reps[i%2].RotateRefreshToken(t.Context(), hash, t0.Add(time.Minute),
				[]byte(fmt.Sprintf("sealed-%02d", i)), testToken(fmt.Sprintf("%s-next-%02d", hash, i), ""))
			return result{rt, err}
		})
		winner := -1
		for i, r := range res {
			switch {
			case r.err == nil && winner < 0:
				winner = i
			case r.err == nil:
				t.Fatalf("round %d: callers %d and %d both rotated", round, winner, i)
			case !errors.Is(r.err, store.ErrRotated):
				t.Fatalf("round %d: caller %d: RotateRefreshToken: %v", round, i, r.err)
			}
		}
		if winner < 0 {
			t.Fatalf("round %d: nobody rotated", round)
		}
		for i, r := range res {
			if want := fmt.Sprintf("sealed-%02d", winner); string(r.rt.Successor) != want {
				t.Errorf("round %d: caller %d got Successor %q, want the winner's %q", round, i, r.rt.Successor, want)
			}
			_, err := reps[0].RefreshToken(t.Context(), fmt.Sprintf("%s-next-%02d", hash, i))
			if i == winner && err != nil {
				t.Errorf("round %d: winner's next token: %v", round, err)
			}
			if i != winner && !errors.Is(err, store.ErrNotFound) {
				t.Errorf("round %d: loser %d's next token: err = %v, want ErrNotFound", round, i, err)
			}
		}

		code := store.AuthCode{Hash: hash, ClientID: "urn:app", Subject: "alice", Scopes: []string{"openid"},
			CreatedAt: t0, ExpiresAt: t0.Add(time.Minute)}
		if err := reps[1].SaveAuthCode(t.Context(), code); err != nil {
			t.Fatalf("SaveAuthCode: %v", err)
		}
		type redeemed struct {
			c   store.AuthCode
			err error
		}
		rres := race(n, func(i int) redeemed {
			c, err := reps[i%2].RedeemAuthCode(t.Context(), hash, t0.Add(time.Second), fmt.Sprintf("jti-%02d", i), t0.Add(time.Hour))
			return redeemed{c, err}
		})
		winner = -1
		for i, r := range rres {
			switch {
			case r.err == nil && winner < 0:
				winner = i
			case r.err == nil:
				t.Fatalf("round %d: callers %d and %d both redeemed", round, winner, i)
			case !errors.Is(r.err, store.ErrCodeReused):
				t.Fatalf("round %d: caller %d: RedeemAuthCode: %v", round, i, r.err)
			}
		}
		if winner < 0 {
			t.Fatalf("round %d: nobody redeemed", round)
		}
		for i, r := range rres {
			if want := fmt.Sprintf("jti-%02d", winner); i != winner && r.c.AccessTokenID != want {
				t.Errorf("round %d: loser %d sees AccessTokenID %q, want the winner's %q", round, i, r.c.AccessTokenID, want)
			}
		}
	}
}

// TestReplicasRevokeWhileRotating revokes a family on one replica while
// another keeps rotating it: whatever the interleaving, no token of the
// family may be left unrevoked, and the rotating side ends on ErrRevoked.
func TestReplicasRevokeWhileRotating(t *testing.T) {
	reps := openReplicas(t, 2)
	const rounds = 30
	for round := range rounds {
		family := fmt.Sprintf("fam-%d", round)
		first := fmt.Sprintf("r%d-0", round)
		if err := reps[0].SaveRefreshToken(t.Context(), testToken(first, family)); err != nil {
			t.Fatalf("SaveRefreshToken: %v", err)
		}
		revokedDone := make(chan struct{})
		var wg sync.WaitGroup
		var rotateErr error
		wg.Go(func() {
			cur := first
			// Rotate until refused; a store that lost the revocation
			// would let this go on, so stop one attempt after it returned.
			for i, last := 1, false; !last; i++ {
				select {
				case <-revokedDone:
					last = true
				default:
				}
				next := fmt.Sprintf("r%d-%d", round, i)
				_, err := reps[0].RotateRefreshToken(t.Context(), cur, t0.Add(time.Minute), []byte("x"), testToken(next, ""))
				if err != nil {
					rotateErr = err
					return
				}
				cur = next
			}
		})
		wg.Go(func() {
			defer close(revokedDone)
			time.Sleep(time.Duration(round%5) * time.Millisecond)
			if _, err := reps[1].RevokeRefreshFamily(t.Context(), family, t0.Add(time.Hour)); err != nil {
				t.Errorf("RevokeRefreshFamily: %v", err)
			}
		})
		wg.Wait()
		var left int
		if err := reps[0].pool.QueryRow(t.Context(),
			"SELECT count(*) FROM refresh_tokens WHERE family_id = $1 AND revoked_at IS NULL", family).Scan(&left); err != nil {
			t.Fatal(err)
		}
		if left != 0 {
			t.Fatalf("round %d: %d tokens of the revoked family are not revoked", round, left)
		}
		if !errors.Is(rotateErr, store.ErrRevoked) {
			t.Fatalf("round %d: rotation stopped with %v, want ErrRevoked", round, rotateErr)
		}
	}
}

// TestMigrateCountsOpenSessions upgrades a schema at version 3 holding
// open and ended sessions: the license counter that migration 4 adds
// must start at what is open. A write from a connection whose
// search_path does not name the schema (psql, a script) must move the
// counter of the schema it wrote to.
func TestMigrateCountsOpenSessions(t *testing.T) {
	ctx := t.Context()
	schema := newSchema(t)
	dsn := withSearchPath(t, baseDSN(), schema)
	ms, err := migrationSet.Migrations()
	if err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	setup := []string{"CREATE TABLE schema_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL)"}
	for _, m := range ms[:3] {
		setup = append(setup, m.SQL, fmt.Sprintf("INSERT INTO schema_migrations VALUES (%d, '%s', now())", m.Version, m.Name))
	}
	setup = append(setup, `INSERT INTO sessions (`+sqlstore.SessionColumns+`) VALUES
		('open-1', 'u1', 'app', 'user', false, now(), now(), NULL, NULL, ''),
		('open-2', 'u2', 'app', 'user', true, now(), now(), NULL, NULL, ''),
		('open-3', 'u3', 'app', 'user', true, now(), now(), NULL, NULL, ''),
		('ended', 'u4', 'app', 'user', true, now(), now(), NULL, now(), 'logout')`)
	for _, q := range setup {
		if _, err := conn.Exec(ctx, q); err != nil {
			conn.Close(ctx)
			t.Fatalf("setting up version 3: %v", err)
		}
	}
	conn.Close(ctx)

	s := mustOpen(t, dsn)
	defer s.Close()
	if u, err := s.Usage(ctx); err != nil || u != (store.Usage{Open: 3, Reserved: 2}) {
		t.Fatalf("Usage after migration = %+v, %v; want 3 open, 2 reserved", u, err)
	}
	qualified := pgx.Identifier{schema, "sessions"}.Sanitize()
	if err := adminExec(ctx, "UPDATE "+qualified+" SET ended_at = now(), end_reason = 'admin' WHERE id = 'open-2'"); err != nil {
		t.Fatal(err)
	}
	if err := adminExec(ctx, "INSERT INTO "+qualified+" ("+sqlstore.SessionColumns+
		") VALUES ('open-4', 'u5', 'app', 'user', false, now(), now(), NULL, NULL, '')"); err != nil {
		t.Fatal(err)
	}
	if u, err := s.Usage(ctx); err != nil || u != (store.Usage{Open: 3, Reserved: 1}) {
		t.Fatalf("Usage after writes from another search_path = %+v, %v; want 3 open, 1 reserved", u, err)
	}
}

// TestReplicasLicenseCapAcrossShards: a cap far above the shard count,
// so that opens start on the one-shard path (OpenSession) and cross to
// the all-shards path as the count nears the limit, raced from two
// replicas: exactly the free slots are taken, the shared ones never
// exceed Slots-Reserved, a login holds at most one seat, and the shards
// sum to the open sessions.
func TestReplicasLicenseCapAcrossShards(t *testing.T) {
	reps := openReplicas(t, 2)
	const slots, reservedSeats, before, n = 60, 4, 30, 160
	lic := store.License{Slots: slots, Reserved: reservedSeats}
	for i := range before {
		id := fmt.Sprintf("before-%02d", i)
		if _, err := reps[i%2].OpenSession(t.Context(), store.Session{ID: id, Subject: id, Kind: store.SessionUser,
			OpenedAt: t0, LastSeenAt: t0}, lic); err != nil {
			t.Fatalf("opening %s: %v", id, err)
		}
	}
	res := race(n, func(i int) error {
		id := fmt.Sprintf("race-%03d", i)
		subject := id
		if i%8 == 0 {
			subject = fmt.Sprintf("reserved-%d", i/8%reservedSeats) // a login per seat, each asking many times
		}
		_, err := reps[i%2].OpenSession(t.Context(), store.Session{ID: id, Subject: subject, Kind: store.SessionUser,
			Reserved: i%8 == 0, OpenedAt: t0, LastSeenAt: t0}, lic)
		return err
	})
	opened, exhausted := tallyOpens(t, res)
	open, err := reps[0].OpenSessions(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	seats := map[string]int{}
	for _, s := range open {
		if s.Reserved {
			seats[s.Subject]++
		}
	}
	for subject, k := range seats {
		if k > 1 {
			t.Errorf("%s holds %d reserved seats; at most one", subject, k)
		}
	}
	if opened != slots-before || exhausted != n-(slots-before) || len(open) != slots || len(open)-len(seats) > slots-reservedSeats {
		t.Fatalf("%d opened, %d refused, %d open with %d seats; want %d opened, %d refused, %d open, at most %d shared",
			opened, exhausted, len(open), len(seats), slots-before, n-(slots-before), slots, slots-reservedSeats)
	}
	checkShards(t, reps[1], len(open), len(seats))
}

// TestReplicasShardsUnderChurn opens, ends and reaps sessions from two
// replicas at once, with and without a cap: no deadlock outlives inTx's
// retries, and the shards always sum to the open sessions.
func TestReplicasShardsUnderChurn(t *testing.T) {
	reps := openReplicas(t, 2)
	for _, lic := range []store.License{{Slots: 1000, Reserved: 2}, {}} {
		t.Run(fmt.Sprintf("slots=%d", lic.Slots), func(t *testing.T) {
			prefix := fmt.Sprintf("churn-%d-", lic.Slots)
			res := race(48, func(i int) error {
				r := reps[i%2]
				for j := range 25 {
					id := fmt.Sprintf("%s%02d-%02d", prefix, i, j)
					at := t0.Add(time.Duration(j) * time.Second)
					if _, err := r.OpenSession(t.Context(), store.Session{ID: id, Subject: fmt.Sprintf("u%d", i%5), Kind: store.SessionUser,
						Reserved: i%5 == 0, OpenedAt: at, LastSeenAt: at}, lic); err != nil {
						return fmt.Errorf("open %s: %w", id, err)
					}
					switch j % 5 {
					case 1:
						if _, err := r.EndSession(t.Context(), id, store.EndLogout, at); err != nil {
							return fmt.Errorf("end %s: %w", id, err)
						}
					case 3:
						if _, err := r.EndStaleSessions(t.Context(), at.Add(-10*time.Second), at); err != nil {
							return fmt.Errorf("reap: %w", err)
						}
					}
				}
				return nil
			})
			for _, err := range res {
				if err != nil {
					t.Fatal(err)
				}
			}
			open, err := reps[0].OpenSessions(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			seats := 0
			for _, s := range open {
				if s.Reserved {
					seats++
				}
			}
			checkShards(t, reps[1], len(open), seats)
			if _, err := reps[0].EndStaleSessions(t.Context(), t0.Add(time.Hour), t0.Add(time.Hour)); err != nil {
				t.Fatal(err)
			}
			checkShards(t, reps[1], 0, 0)
		})
	}
}

// tallyOpens counts the OpenSession results of a race: opened, and
// refused for the license; anything else fails the test.
func tallyOpens(t *testing.T, res []error) (opened, exhausted int) {
	t.Helper()
	for i, err := range res {
		switch {
		case err == nil:
			opened++
		case errors.Is(err, store.ErrLicenseExhausted):
			exhausted++
		default:
			t.Fatalf("caller %d: OpenSession: %v", i, err)
		}
	}
	return opened, exhausted
}

// checkShards: the shard rows hold licenseShards rows whose sums are
// open and seats, which Usage reports.
func checkShards(t *testing.T, s *Store, open, seats int) {
	t.Helper()
	var rows, sumOpen, sumSeats int
	if err := s.pool.QueryRow(t.Context(), "SELECT count(*), coalesce(sum(open_sessions), 0), coalesce(sum(open_reserved), 0) FROM license_shards").
		Scan(&rows, &sumOpen, &sumSeats); err != nil {
		t.Fatal(err)
	}
	if rows != licenseShards || sumOpen != open || sumSeats != seats {
		t.Errorf("license_shards: %d rows summing to %d open, %d seats; want %d rows, %d, %d", rows, sumOpen, sumSeats, licenseShards, open, seats)
	}
	if u, err := s.Usage(t.Context()); err != nil || u != (store.Usage{Open: open, Reserved: seats}) {
		t.Errorf("Usage = %+v, %v; want %d open, %d reserved", u, err, open, seats)
	}
}

package sqlite

import (
	"database/sql"
	"errors"
	"fmt"
	"github.com/erpgate/erpgate/directory"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/erpgate/erpgate/store"
	"github.com/erpgate/erpgate/store/sqlstore"
	"github.com/erpgate/erpgate/store/storetest"
)

func openTemp(t *testing.T) *Store {
	t.Helper()
	s, err := Open(t.Context(), filepath.Join(t.TempDir(), "erpgate.db"))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s
}

func TestBackend(t *testing.T) {
	storetest.RunTests(t, func(t *testing.T) store.Backend { return openTemp(t) })
}

func TestBackendInMemory(t *testing.T) {
	open := func(t *testing.T) *Store {
		s, err := Open(t.Context(), ":memory:")
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		return s
	}
	storetest.RunTests(t, func(t *testing.T) store.Backend { return open(t) })
}

// TestReopenKeepsData is the restart case of SPEC §5: "a restart loses no
// session, token family or revocation", nor a run-time app or
// reference token (SPEC §2: they "live in the store"), nor what a user
// set on the account page (a consent, their own password).
func TestReopenKeepsData(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "erpgate.db")
	now := time.Date(2025, time.March, 14, 9, 26, 53, 589_000_000, time.UTC)

	s, err := Open(ctx, path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	key := store.SigningKey{ID: "k1", Algorithm: "EdDSA", PrivateJWK: []byte(`{"kty":"OKP"}`),
		CreatedAt: now, RetireAt: now.Add(time.Hour), ExpiresAt: now.Add(2 * time.Hour)}
	if err := s.AddSigningKey(ctx, key); err != nil {
		t.Fatalf("AddSigningKey: %v", err)
	}
	sess := store.Session{ID: "sid-1", Subject: "alice", ClientID: "urn:app", Kind: store.SessionUser,
		OpenedAt: now, LastSeenAt: now}
	if _, err := s.OpenSession(ctx, sess, store.License{Slots: 1}); err != nil {
		t.Fatalf("OpenSession: %v", err)
	}
	if err := s.Revoke(ctx, "jti-1", now.Add(time.Hour), now); err != nil {
		t.Fatalf("Revoke: %v", err)
	}
	rt := store.RefreshToken{Hash: "rt-1", FamilyID: "fam-1", Subject: "alice", SessionID: "sid-1",
		Scopes: []string{"read"}, CreatedAt: now, ExpiresAt: now.Add(time.Hour), AccessTokenID: "jti-2",
		AccessExpiresAt: now.Add(time.Hour)}
	if err := s.SaveRefreshToken(ctx, rt); err != nil {
		t.Fatalf("SaveRefreshToken: %v", err)
	}
	if err := s.CreateApp(ctx, directory.App{ID: "urn:app:rt", Name: "Run-time app", Enabled: true,
		CreatedAt: now, UpdatedAt: now}); err != nil {
		t.Fatalf("CreateApp: %v", err)
	}
	if err := s.SaveReferenceToken(ctx, store.ReferenceToken{ID: "rt-1", Hash: "rt-hash-1",
		Type: store.PersonalAccessToken, ClientID: "urn:app:rt", Subject: "alice", CreatedAt: now,
		ExpiresAt: now.Add(time.Hour)}); err != nil {
		t.Fatalf("SaveReferenceToken: %v", err)
	}
	if err := s.SaveConsent(ctx, store.Consent{Subject: "alice", ClientID: "urn:app:rt", Scopes: []string{"read"},
		GrantedAt: now}); err != nil {
		t.Fatalf("SaveConsent: %v", err)
	}
	if err := s.SavePasswordChange(ctx, directory.PasswordChange{Login: "alice", Hash: "own", Replaces: "file",
		ChangedAt: now}); err != nil {
		t.Fatalf("SavePasswordChange: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	s, err = Open(ctx, path)
	if err != nil {
		t.Fatalf("second Open: %v", err)
	}
	defer s.Close()
	keys, err := s.SigningKeys(ctx)
	if err != nil || len(keys) != 1 || keys[0].ID != "k1" || !keys[0].ExpiresAt.Equal(key.ExpiresAt) {
		t.Errorf("SigningKeys after reopen = %+v, %v; want k1", keys, err)
	}
	got, err := s.Session(ctx, "sid-1")
	if err != nil || !got.Open() || !got.OpenedAt.Equal(now) || got.Subject != "alice" {
		t.Errorf("Session after reopen = %+v, %v; want sid-1 open", got, err)
	}
	// The slot is still taken after the restart.
	if _, err := s.OpenSession(ctx, store.Session{ID: "sid-2", OpenedAt: now, LastSeenAt: now},
		store.License{Slots: 1}); !errors.Is(err, store.ErrLicenseExhausted) {
		t.Errorf("OpenSession after reopen: err = %v, want ErrLicenseExhausted", err)
	}
	if ok, err := s.Revoked(ctx, "jti-1"); err != nil || !ok {
		t.Errorf("Revoked after reopen = %v, %v; want true", ok, err)
	}
	if got, err := s.RevokeSessionRefreshTokens(ctx, "sid-1", now); err != nil || len(got) != 1 || got[0].ID != "jti-2" {
		t.Errorf("RevokeSessionRefreshTokens after reopen = %+v, %v; want jti-2", got, err)
	}

	if got, err := s.AppsChangedSince(ctx, now); err != nil || len(got) != 1 || got[0].ID != "urn:app:rt" {
		t.Errorf("AppsChangedSince after reopen = %+v, %v; want urn:app:rt", got, err)
	}
	if got, err := s.ReferenceTokenByHash(ctx, "rt-hash-1"); err != nil || got.ID != "rt-1" {
		t.Errorf("ReferenceTokenByHash after reopen = %+v, %v; want rt-1", got, err)
	}
	if got, err := s.Consent(ctx, "alice", "urn:app:rt"); err != nil || len(got.Scopes) != 1 {
		t.Errorf("Consent after reopen = %+v, %v; want alice's for urn:app:rt", got, err)
	}
	if got, err := s.PasswordChangesSince(ctx, now); err != nil || len(got) != 1 || got[0].Hash != "own" {
		t.Errorf("PasswordChangesSince after reopen = %+v, %v; want alice's", got, err)
	}

	// Reopening applied no migration twice.
	ms, err := migrationSet.Migrations()
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := s.reader.QueryRowContext(ctx, "SELECT count(*) FROM schema_migrations").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != len(ms) {
		t.Errorf("schema_migrations has %d rows, want %d", n, len(ms))
	}
}

// TestOpenCreatesPrivateFile checks the parent directory is created and
// the file, which holds private keys, is readable by its owner only.
func TestOpenCreatesPrivateFile(t *testing.T) {
	for _, tc := range []struct {
		name string
		dsn  func(path string) string
	}{
		{"path", func(p string) string { return p }},
		{"file URI", func(p string) string { return "file:" + p }},
		{"file URL", func(p string) string { return "file://" + p }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "data", "sub", "erpgate.db")
			s, err := Open(t.Context(), tc.dsn(path))
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			defer s.Close()
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatalf("database file: %v", err)
			}
			if perm := fi.Mode().Perm(); perm != 0o600 {
				t.Errorf("database file mode = %v, want 0600", perm)
			}
		})
	}
}

// TestPragmas checks the settings the atomicity argument rests on.
func TestPragmas(t *testing.T) {
	s := openTemp(t)
	defer s.Close()
	for _, tc := range []struct {
		db     *pool
		pragma string
		want   string
	}{
		{s.writer, "journal_mode", "wal"},
		{s.writer, "busy_timeout", "5000"},
		{s.writer, "foreign_keys", "1"},
		{s.reader, "journal_mode", "wal"},
		{s.reader, "busy_timeout", "5000"},
		{s.reader, "foreign_keys", "1"},
		{s.reader, "query_only", "1"},
	} {
		var got string
		if err := tc.db.QueryRowContext(t.Context(), "PRAGMA "+tc.pragma).Scan(&got); err != nil {
			t.Fatalf("PRAGMA %s: %v", tc.pragma, err)
		}
		if got != tc.want {
			t.Errorf("PRAGMA %s = %q, want %q", tc.pragma, got, tc.want)
		}
	}
}

func TestNewerSchemaRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "erpgate.db")
	s, err := Open(t.Context(), path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if _, err := s.writer.ExecContext(t.Context(),
		"INSERT INTO schema_migrations (version, name, applied_at) VALUES (9999, 'future.sql', 0)"); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if s, err := Open(t.Context(), path); err == nil {
		s.Close()
		t.Fatal("Open of a database from a newer erpgate succeeded")
	} else if !strings.Contains(err.Error(), "newer") {
		t.Fatalf("Open: err = %v, want it to say the schema is newer", err)
	}
}

func TestDSN(t *testing.T) {
	for _, tc := range []struct {
		dsn    string
		memory bool
		path   string
	}{
		{"data/erpgate.db", false, "data/erpgate.db"},
		{"/var/lib/erpgate/erpgate.db?_pragma=cache_size(-2000)", false, "/var/lib/erpgate/erpgate.db"},
		{"file:data/erpgate.db", false, "data/erpgate.db"},
		{"file:///var/lib/erpgate.db?mode=rwc", false, "/var/lib/erpgate.db"},
		{":memory:", true, ""},
		{"file::memory:", true, ""},
		{"file:test?mode=memory&cache=shared", true, ""},
	} {
		if got := isMemory(tc.dsn); got != tc.memory {
			t.Errorf("isMemory(%q) = %v, want %v", tc.dsn, got, tc.memory)
		}
		if tc.memory {
			continue
		}
		if got := filePath(tc.dsn); got != tc.path {
			t.Errorf("filePath(%q) = %q, want %q", tc.dsn, got, tc.path)
		}
	}
}

// childEnv makes the test binary act as one of the processes of
// TestLicenseAcrossProcesses: its value is the database path.
const childEnv = "ERPGATE_SQLITE_TEST_CHILD"

// TestLicenseAcrossProcesses runs the slot race of storetest across
// processes on one new file: 4 processes of 10 goroutines each race for
// 5 slots, and also race to create and migrate the file.
func TestLicenseAcrossProcesses(t *testing.T) {
	if path := os.Getenv(childEnv); path != "" {
		licenseChild(t, path)
		return
	}
	const procs, perProc, slots = 4, 10, 5
	dir := t.TempDir()
	path := filepath.Join(dir, "erpgate.db")
	goFile := filepath.Join(dir, "go")

	var cmds []*exec.Cmd
	var outs []*strings.Builder
	for i := range procs {
		cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestLicenseAcrossProcesses$", "-test.count=1")
		cmd.Env = append(os.Environ(), childEnv+"="+path, "ERPGATE_SQLITE_TEST_PROC="+strconv.Itoa(i))
		out := new(strings.Builder)
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Start(); err != nil {
			t.Fatalf("start child: %v", err)
		}
		cmds, outs = append(cmds, cmd), append(outs, out)
	}
	if err := os.WriteFile(goFile, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	opened, exhausted := 0, 0
	for i, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Fatalf("child %d: %v\n%s", i, err, outs[i])
		}
		var o, e int
		if _, err := fmt.Sscanf(resultLine(outs[i].String()), "RESULT opened=%d exhausted=%d", &o, &e); err != nil {
			t.Fatalf("child %d output: %v\n%s", i, err, outs[i])
		}
		opened, exhausted = opened+o, exhausted+e
	}
	if opened != slots || exhausted != procs*perProc-slots {
		t.Fatalf("%d opened and %d ErrLicenseExhausted across processes, want %d and %d",
			opened, exhausted, slots, procs*perProc-slots)
	}

	s, err := Open(t.Context(), path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer s.Close()
	if open, err := s.OpenSessions(t.Context()); err != nil || len(open) != slots {
		t.Fatalf("OpenSessions = %d sessions, %v; want %d", len(open), err, slots)
	}
}

func resultLine(out string) string {
	for line := range strings.Lines(out) {
		if strings.HasPrefix(line, "RESULT ") {
			return line
		}
	}
	return ""
}

func licenseChild(t *testing.T, path string) {
	const perProc = 10
	proc := os.Getenv("ERPGATE_SQLITE_TEST_PROC")
	s, err := Open(t.Context(), path)
	if err != nil {
		t.Fatalf("child Open: %v", err)
	}
	defer s.Close()
	goFile := filepath.Join(filepath.Dir(path), "go")
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		if _, err := os.Stat(goFile); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("child: no go signal")
		}
	}

	now := time.Date(2025, time.March, 14, 9, 0, 0, 0, time.UTC)
	var opened, exhausted atomic.Int32
	var wg sync.WaitGroup
	for i := range perProc {
		wg.Go(func() {
			id := fmt.Sprintf("sid-%s-%d", proc, i)
			_, err := s.OpenSession(t.Context(), store.Session{ID: id, Subject: id, OpenedAt: now, LastSeenAt: now},
				store.License{Slots: 5})
			switch {
			case err == nil:
				opened.Add(1)
			case errors.Is(err, store.ErrLicenseExhausted):
				exhausted.Add(1)
			default:
				t.Errorf("child OpenSession(%s): %v", id, err)
			}
		})
	}
	wg.Wait()
	fmt.Printf("RESULT opened=%d exhausted=%d\n", opened.Load(), exhausted.Load())
}

// TestMigrateKeepsRevocations upgrades a database at schema version 1
// holding a revocation: it must survive with RevokedAt at the epoch, so
// a process loading the whole list (RevokedSince the zero time) sees it.
func TestMigrateKeepsRevocations(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "erpgate.db")
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	ms, err := migrationSet.Migrations()
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		"CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL) STRICT",
		ms[0].SQL,
		"INSERT INTO schema_migrations VALUES (1, '" + ms[0].Name + "', 0)",
		"INSERT INTO revocations (jti, expires_at) VALUES ('old-jti', 4102444800000)",
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatalf("setting up version 1: %v", err)
		}
	}
	db.Close()

	s, err := Open(ctx, path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer s.Close()
	got, err := s.RevokedSince(ctx, time.Time{})
	if err != nil {
		t.Fatalf("RevokedSince: %v", err)
	}
	if len(got) != 1 || got[0].ID != "old-jti" || !got[0].RevokedAt.Equal(time.UnixMilli(0)) {
		t.Fatalf("RevokedSince after migration = %+v, want old-jti revoked at the epoch", got)
	}
}

// TestMigrateCountsOpenSessions upgrades a database at schema version 3
// holding open and ended sessions: the license counter that migration 4
// adds must start at what is open, or the cap would be off for good.
func TestMigrateCountsOpenSessions(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "erpgate.db")
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	ms, err := migrationSet.Migrations()
	if err != nil {
		t.Fatal(err)
	}
	setup := []string{"CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL) STRICT"}
	for _, m := range ms[:3] {
		setup = append(setup, m.SQL, fmt.Sprintf("INSERT INTO schema_migrations VALUES (%d, '%s', 0)", m.Version, m.Name))
	}
	setup = append(setup, `INSERT INTO sessions (`+sqlstore.SessionColumns+`) VALUES
		('open-1', 'u1', 'app', 'user', 0, 1, 1, NULL, NULL, ''),
		('open-2', 'u2', 'app', 'user', 1, 1, 1, NULL, NULL, ''),
		('open-3', 'u3', 'app', 'user', 1, 1, 1, NULL, NULL, ''),
		('ended', 'u4', 'app', 'user', 1, 1, 1, NULL, 2, 'logout')`)
	for _, q := range setup {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatalf("setting up version 3: %v", err)
		}
	}
	db.Close()

	s, err := Open(ctx, path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer s.Close()
	if u, err := s.Usage(ctx); err != nil || u != (store.Usage{Open: 3, Reserved: 2}) {
		t.Fatalf("Usage after migration = %+v, %v; want 3 open, 2 reserved", u, err)
	}
	if _, err := s.EndSession(ctx, "open-2", store.EndAdmin, time.UnixMilli(5)); err != nil {
		t.Fatal(err)
	}
	if u, err := s.Usage(ctx); err != nil || u != (store.Usage{Open: 2, Reserved: 1}) {
		t.Fatalf("Usage after an end = %+v, %v; want 2 open, 1 reserved", u, err)
	}
}

// TestMigrateKeepsIdentitySessions upgrades a database at schema version
// 5 holding a live identity session: migration 6 adds where and when it
// came from, which an older session does not say, and it stays live and
// listed.
func TestMigrateKeepsIdentitySessions(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "erpgate.db")
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	ms, err := migrationSet.Migrations()
	if err != nil {
		t.Fatal(err)
	}
	setup := []string{"CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL) STRICT"}
	for _, m := range ms[:5] {
		setup = append(setup, m.SQL, fmt.Sprintf("INSERT INTO schema_migrations VALUES (%d, '%s', 0)", m.Version, m.Name))
	}
	setup = append(setup, `INSERT INTO identity_sessions (id, subject, secret_hash, auth_time, created_at, expires_at, ended_at)
		VALUES ('sid-1', 'alice', 'secret', 1000, 1000, 4102444800000, NULL)`)
	for _, q := range setup {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatalf("setting up version 5: %v", err)
		}
	}
	db.Close()

	s, err := Open(ctx, path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer s.Close()
	got, err := s.IdentitySessionsOf(ctx, "alice", time.UnixMilli(2000))
	if err != nil || len(got) != 1 || got[0].ID != "sid-1" || got[0].RemoteAddr != "" || got[0].UserAgent != "" ||
		!got[0].AuthTime.Equal(time.UnixMilli(1000)) {
		t.Fatalf("IdentitySessionsOf after migration = %+v, %v; want sid-1, saying nothing of where from", got, err)
	}
}

// TestMigrateKeepsAppPasswordForm upgrades a database at schema version
// 12 holding a run-time app: migration 13 adds the app's identity
// providers and whether it takes local passwords, and an app stored
// before says nothing of providers and keeps the password form (the
// column's default, read as NoLocalPasswords false).
func TestMigrateKeepsAppPasswordForm(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "erpgate.db")
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	ms, err := migrationSet.Migrations()
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) < 13 || ms[12].Name != "0013_app_identity_providers.sql" {
		t.Fatalf("migration 13 is not 0013_app_identity_providers.sql: %v", ms)
	}
	setup := []string{"CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL) STRICT"}
	for _, m := range ms[:12] {
		setup = append(setup, m.SQL, fmt.Sprintf("INSERT INTO schema_migrations VALUES (%d, '%s', 0)", m.Version, m.Name))
	}
	setup = append(setup, `INSERT INTO apps (uri, name, public, secret_hash, system_user, scopes, redirect_uris,
			post_logout_redirect_uris, allow_internal_users, allow_community_users, reference_tokens, require_pkce,
			enabled, created_at, updated_at)
		VALUES ('urn:app:old', 'Old', 1, NULL, '', '["read"]', '[]', '[]', 1, 0, 'none', 1, 1, 1000, 1000)`)
	for _, q := range setup {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatalf("setting up version 12: %v", err)
		}
	}
	db.Close()

	s, err := Open(ctx, path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer s.Close()
	got, err := s.App(ctx, "urn:app:old")
	if err != nil || got.NoLocalPasswords || len(got.IdentityProviders) != 0 || got.Name != "Old" {
		t.Fatalf("App after migration = %+v, %v; want Old, local passwords, no providers", got, err)
	}
}

package gateway

import (
	"context"
	"database/sql"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestSQLiteStoreLockedThenBack: while another process holds the SQLite
// write lock (a stuck writer: the store is slow, then unavailable), the
// identity server answers 503 temporarily_unavailable instead of hanging
// or failing with 500, calls of sessions the gateway already knows keep
// working, and everything recovers once the lock is gone, without a
// restart.
func TestSQLiteStoreLockedThenBack(t *testing.T) {
	front, g, cfgPath := startWithConfigFile(t)
	persons := front.URL + "/api/domain/odata/General_Contacts_Persons"
	tok := mint(t, g, "alice", "sid-locked", false, "read")
	if c := getWith(t, persons, "Authorization", "Bearer "+tok); c != 200 {
		t.Fatalf("before the fault: %d", c)
	}

	// Another process's writer: hold BEGIN IMMEDIATE on the same file.
	db, err := sql.Open("sqlite", filepath.Join(filepath.Dir(cfgPath), "erpgate.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	conn, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(context.Background(), "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}

	start := time.Now()
	status, body := redeemUnknownCode(t, front.URL)
	if status != http.StatusServiceUnavailable || !strings.Contains(body, "temporarily_unavailable") {
		t.Fatalf("code exchange with the store locked: %d %s", status, body)
	}
	if waited := time.Since(start); waited > 30*time.Second {
		t.Fatalf("waited %v for a locked store", waited)
	}
	// Known sessions keep working through the proxy.
	if c := getWith(t, persons, "Authorization", "Bearer "+tok); c != 200 {
		t.Fatalf("known session with the store locked: %d", c)
	}

	// The writer goes away: everything works again.
	if _, err := conn.ExecContext(context.Background(), "ROLLBACK"); err != nil {
		t.Fatal(err)
	}
	if status, body := redeemUnknownCode(t, front.URL); status != http.StatusBadRequest || !strings.Contains(body, "invalid_grant") {
		t.Fatalf("after the lock is gone, an unknown code: %d %s (want the normal invalid_grant)", status, body)
	}
}

// redeemUnknownCode tries an authorization code the gateway never issued:
// redeeming is a write (single use is recorded atomically), so it needs a
// working store; with one, the answer is 400 invalid_grant.
func redeemUnknownCode(t *testing.T, base string) (int, string) {
	t.Helper()
	resp, err := http.PostForm(base+"/id/connect/token", url.Values{
		"grant_type": {"authorization_code"}, "code": {"some-code"}, "redirect_uri": {"http://localhost/cb"},
		"client_id": {"com.example/spa"},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	return resp.StatusCode, string(b)
}

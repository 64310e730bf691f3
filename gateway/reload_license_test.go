package gateway

import (
	"context"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/erpgate/erpgate/authority"
	"github.com/erpgate/erpgate/sampleapi"
)

// withLicense replaces the example config's license block.
func withLicense(t *testing.T, yml string, slots int, reserved ...string) string {
	t.Helper()
	const example = "\nlicense:\n  slots: 10\n  reserved: [admin]\n"
	if !strings.Contains(yml, example) {
		t.Fatal("config.example.yaml changed shape: no license block with 10 slots reserved for admin")
	}
	return strings.Replace(yml, example, fmt.Sprintf("\nlicense:\n  slots: %d\n  reserved: [%s]\n", slots, strings.Join(reserved, ", ")), 1)
}

// reloadWith writes yml and reloads it as SIGHUP does; it returns the
// audit event of this reload.
func (x *reloadFixture) reloadWith(t *testing.T, yml string) map[string]any {
	t.Helper()
	before := len(x.log.find("event", "config.reloaded"))
	x.write(t, yml)
	if err := x.reloadFile(); err != nil {
		t.Fatalf("reload: %v", err)
	}
	ev := x.log.find("event", "config.reloaded")
	if len(ev) != before+1 || ev[before]["reason"] != reloadApplied {
		t.Fatalf("config.reloaded events %v, want one more, applied", ev)
	}
	return ev[before]
}

// listed reports whether the report field key of ev lists path.
func listed(ev map[string]any, key, path string) bool {
	l, _ := ev[key].([]any)
	return slices.Contains(l, any(path))
}

// proxied calls the sample API with a token of login in session sid.
func (x *reloadFixture) proxied(t *testing.T, login, sid string) (int, string) {
	t.Helper()
	return call(t, "GET", x.front.URL+sampleapi.PersonsPath, mint(t, x.g, login, sid, false, "read"))
}

// TestReloadLicense: license.slots and license.reserved apply on reload
// without a restart. More slots let a refused session open; fewer than
// are open end none but refuse new ones (MaximumLicenseCountExceeded),
// said in the report; a reserved seat moves to another login for new
// sessions, and the session still holding the old seat is named. The
// license gauge follows, and the report lists what was applied.
func TestReloadLicense(t *testing.T) { testReloadLicense(t, startReloadFixture(t)) }

// TestReloadLicensePostgres is TestReloadLicense on PostgreSQL, whose
// OpenSession enforces the cap (and the seats) each process passes it.
func TestReloadLicensePostgres(t *testing.T) {
	dsn := replicaSchemaDSN(t)
	x := startReloadFixtureWith(t, func(yml string) string {
		if !sqliteStoreLine.MatchString(yml) {
			t.Fatal("config.example.yaml changed shape: no sqlite store block")
		}
		return sqliteStoreLine.ReplaceAllLiteralString(yml, fmt.Sprintf("driver: postgres\n  dsn: %q", dsn))
	})
	if x.g.file.Store.Driver != "postgres" {
		t.Fatalf("store %q, want postgres", x.g.file.Store.Driver)
	}
	testReloadLicense(t, x)
}

// sqliteStoreLine is the example's store driver and dsn.
var sqliteStoreLine = regexp.MustCompile(`driver: sqlite .*\n  dsn: .*erpgate\.db`)

func testReloadLicense(t *testing.T, x *reloadFixture) {
	t.Helper()
	one := withLicense(t, x.yml, 1)
	ev := x.reloadWith(t, one)
	if !listed(ev, "applied", "license.slots") || !listed(ev, "applied", "license.reserved") || listed(ev, "needs_restart", "license") {
		t.Fatalf("report %v: want license.slots and license.reserved applied", ev)
	}
	if v := testutil.ToFloat64(x.g.metrics.LicenseLimit); v != 1 {
		t.Errorf("license_slots_limit = %v after reloading 1 slot", v)
	}
	if code, body := x.proxied(t, "alice", "sid-lic-1"); code != 200 {
		t.Fatalf("first session under 1 slot: %d %s", code, body)
	}
	if code, body := x.proxied(t, "alice", "sid-lic-2"); code != 403 || !strings.Contains(body, authority.ReasonLicenseExhausted) {
		t.Fatalf("second session under 1 slot: %d %s, want 403 %s", code, body, authority.ReasonLicenseExhausted)
	}

	// 1 → 2: the second session opens, no restart.
	x.reloadWith(t, withLicense(t, x.yml, 2))
	if code, body := x.proxied(t, "alice", "sid-lic-2"); code != 200 {
		t.Fatalf("second session after reloading 2 slots: %d %s", code, body)
	}
	if v := testutil.ToFloat64(x.g.metrics.LicenseLimit); v != 2 {
		t.Errorf("license_slots_limit = %v after reloading 2 slots", v)
	}

	// 2 → 1 with two open: both go on, a new one is refused, and the
	// report says so.
	ev = x.reloadWith(t, one)
	for _, sid := range []string{"sid-lic-1", "sid-lic-2"} {
		if code, body := x.proxied(t, "alice", sid); code != 200 {
			t.Errorf("open session %s after lowering the cap: %d %s, want it to go on", sid, code, body)
		}
	}
	if code, body := x.proxied(t, "alice", "sid-lic-3"); code != 403 || !strings.Contains(body, authority.ReasonLicenseExhausted) {
		t.Errorf("new session over the lowered cap: %d %s, want 403 %s", code, body, authority.ReasonLicenseExhausted)
	}
	if ev["license_slots"] != float64(1) || ev["license_used"] != float64(2) {
		t.Errorf("report %v: want license_slots 1, license_used 2", ev)
	}
	if l := x.log.find("msg", "config reload: license.slots is below the sessions open; none was ended, and new sessions are refused (MaximumLicenseCountExceeded) until fewer than license.slots are open"); len(l) != 1 {
		t.Errorf("over-the-cap warnings: %v, want one", l)
	}

	// The seat moves from alice to admin.
	x.reloadWith(t, withLicense(t, x.yml, 5, "alice"))
	x.proxied(t, "alice", "sid-lic-seat")
	if !sessionRecord(t, x.g, "sid-lic-seat").Reserved {
		t.Fatal("alice's session with alice reserved holds no seat")
	}
	ev = x.reloadWith(t, withLicense(t, x.yml, 5, "admin"))
	stale := x.log.find("msg", "config reload: a session keeps the reserved seat its login no longer has until it ends; end it to free the seat")
	if ev["stale_reserved_seats"] != float64(1) || len(stale) != 1 || stale[0]["subject"] != "alice" || stale[0]["session"] != "sid-lic-seat" {
		t.Errorf("report %v, stale-seat lines %v: want alice's sid-lic-seat named", ev, stale)
	}
	if code, body := x.proxied(t, "admin", "sid-lic-admin"); code != 200 || !sessionRecord(t, x.g, "sid-lic-admin").Reserved {
		t.Errorf("admin's session after the seat moved: %d %s, reserved %v; want admin's seat", code, body, sessionRecord(t, x.g, "sid-lic-admin").Reserved)
	}
	if code, _ := x.proxied(t, "alice", "sid-lic-after"); code != 200 || sessionRecord(t, x.g, "sid-lic-after").Reserved {
		t.Error("alice's new session after the seat moved holds a seat")
	}
}

// TestReloadLogLevelAndLimits: log.level and limits apply on reload. At
// warn the next reload's Info line is gone (its audit event stays); at
// debug the log takes debug lines. A lower token rate limit refuses the
// next burst (429). The reports list each setting applied; log.format
// is reported as needing a restart.
func TestReloadLogLevelAndLimits(t *testing.T) {
	x := startReloadFixture(t)
	ctx := context.Background()
	if x.g.logger.Enabled(ctx, slog.LevelDebug) {
		t.Fatal("the example config logs debug lines")
	}
	warn := x.yml + "\nlog:\n  level: warn\n  format: text\n"
	ev := x.reloadWith(t, warn)
	if !listed(ev, "applied", "log.level") || !listed(ev, "needs_restart", "log.format") || listed(ev, "applied", "log.format") {
		t.Errorf("report %v: want log.level applied, log.format needing a restart", ev)
	}
	if x.g.logger.Enabled(ctx, slog.LevelInfo) {
		t.Error("log.level warn reloaded, info lines still logged")
	}
	infoLines := len(x.log.find("msg", "config reloaded"))

	limited := warn + "\nlimits:\n  token_requests_per_second: 1\n  token_burst: 1\n"
	ev = x.reloadWith(t, limited)
	if !listed(ev, "applied", "limits.token_requests_per_second") || !listed(ev, "applied", "limits.token_burst") || listed(ev, "applied", "log.level") {
		t.Errorf("report %v: want the two limits applied, nothing else", ev)
	}
	if n := len(x.log.find("msg", "config reloaded")); n != infoLines {
		t.Errorf("at log.level warn the reload's info line was logged (%d lines, had %d)", n, infoLines)
	}
	// One request per second with a burst of 1: of a few at once, the
	// first is answered and a later one refused (however slow the host).
	codes := []int{x.clientToken(t, "com.example/nightly-sync", demoSecret)}
	for len(codes) < 5 && codes[len(codes)-1] != 429 {
		codes = append(codes, x.clientToken(t, "com.example/nightly-sync", demoSecret))
	}
	if codes[0] != 200 || codes[len(codes)-1] != 429 {
		t.Errorf("token requests under 1/s with a burst of 1: %v; want 200, then a 429", codes)
	}

	x.reloadWith(t, strings.Replace(limited, "level: warn", "level: debug", 1))
	if !x.g.logger.Enabled(ctx, slog.LevelDebug) {
		t.Error("log.level debug reloaded, debug lines not logged")
	}
}

// A gateway whose caller gave no LogLevel cannot change the level: it
// reports log.level as needing a restart.
func TestReloadLogLevelWithoutLevelVar(t *testing.T) {
	x := startReloadFixture(t)
	x.g.logLevel = nil // as a Config without LogLevel
	ev := x.reloadWith(t, x.yml+"\nlog:\n  level: debug\n")
	if !listed(ev, "needs_restart", "log.level") || listed(ev, "applied", "log.level") {
		t.Errorf("report %v: want log.level needing a restart", ev)
	}
	if x.g.current().file.Log.Level != x.g.file.Log.Level {
		t.Errorf("log.level %q in the snapshot, want the running %q", x.g.current().file.Log.Level, x.g.file.Log.Level)
	}
}

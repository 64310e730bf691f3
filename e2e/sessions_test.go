package e2e

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestSessionsEndFromCLI: `erpgate sessions end` run as its own process on
// the store of a running gateway ends the session, and the gateway then
// refuses its tokens within 2 seconds (SPEC §5: "A session ended … by an
// administrator is over for its tokens: they are refused (401)").
func TestSessionsEndFromCLI(t *testing.T) {
	t.Parallel()
	g := startGateway(t, gatewayOptions{})
	token := g.token(t, syncClient, syncSecret)
	sid := personsSession(t, g, token)

	stdout, stderr, code := runCLI(t, "", "sessions", "list", "--config", g.ConfigPath)
	if code != 0 {
		t.Fatalf("sessions list: exit %d\n%s", code, stderr)
	}
	if !strings.Contains(stdout, sid) || !strings.Contains(stdout, "svc-sync") || !strings.Contains(stdout, "service") {
		t.Errorf("sessions list does not show session %s of svc-sync:\n%s", sid, stdout)
	}

	// "--": a session id may start with "-" (base64url), which the flag
	// parser would otherwise read as a flag.
	stdout, stderr, code = runCLI(t, "", "sessions", "end", "--config", g.ConfigPath, "--", sid)
	if code != 0 {
		t.Fatalf("sessions end: exit %d\n%s%s", code, stdout, stderr)
	}
	var ended bool
	for _, e := range auditEvents(t, stderr) {
		ended = ended || e.Event == "session.ended" && e.Session == sid && e.Reason == "admin" && e.Subject == "svc-sync"
	}
	if !ended {
		t.Errorf("sessions end wrote no session.ended audit line for %s:\n%s", sid, stderr)
	}

	start := time.Now()
	var last response
	refused := poll(2*time.Second, func() bool {
		last = g.call(t, http.MethodGet, g.PublicURL+personsPath, token)
		return last.Status == http.StatusUnauthorized
	})
	if !refused {
		t.Fatalf("the gateway still answers %s %v after `sessions end`; want 401 within 2s", last, time.Since(start))
	}
	if got := last.Header.Get("WWW-Authenticate"); !strings.Contains(got, `error="invalid_token"`) {
		t.Errorf("WWW-Authenticate = %q", got)
	}

	// A new token is a new session, so the app works on.
	if s := personsSession(t, g, g.token(t, syncClient, syncSecret)); s == sid {
		t.Errorf("a new token reused the ended session %s", sid)
	}
}

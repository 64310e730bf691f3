package e2e

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestNoSecretsInLogs: "Raw tokens and secrets never appear in any log;
// use a short hash" (SPEC §8), while every security event is an audit
// line. It runs good and bad token requests and proxied calls, stops the
// gateway so everything is flushed, and reads what the process wrote.
func TestNoSecretsInLogs(t *testing.T) {
	t.Parallel()
	g := startGateway(t, gatewayOptions{})

	const wrongSecret = "e2e-wrong-secret-Zq8x"
	secrets := []string{syncSecret, reportSecret, wrongSecret}
	var tokens []string

	// Tokens issued with both client authentication methods.
	for _, how := range []clientAuth{secretPost, secretBasic} {
		for _, c := range []struct{ id, secret string }{{syncClient, syncSecret}, {reportClient, reportSecret}} {
			resp, tr := g.requestToken(t, c.id, c.secret, how)
			if resp.Status != http.StatusOK {
				t.Fatalf("token for %s: %s", c.id, resp)
			}
			tokens = append(tokens, tr.AccessToken)
		}
	}
	// Refused: wrong secret, another app's secret, unknown client, and a
	// grant the server does not support.
	for _, how := range []clientAuth{secretPost, secretBasic} {
		for _, c := range []struct{ id, secret string }{
			{syncClient, wrongSecret}, {reportClient, syncSecret}, {"com.example/nobody", reportSecret},
		} {
			if resp, _ := g.requestToken(t, c.id, c.secret, how); resp.Status != http.StatusUnauthorized {
				t.Errorf("token for %s with a wrong secret: %s; want 401 invalid_client", c.id, resp)
			}
		}
	}
	if resp, _ := g.requestToken(t, syncClient, syncSecret, secretPost, "grant_type", "password", "username", "alice", "password", "alice-demo-password"); resp.Status == http.StatusOK {
		t.Errorf("password grant: %s; want an error", resp)
	}
	secrets = append(secrets, "alice-demo-password")

	// Proxied calls: allowed, wrong scope, no token, forged and malformed
	// tokens, and a token in the query string.
	syncTok, reportTok := tokens[0], tokens[1]
	forged := tokens[0][:strings.LastIndexByte(tokens[0], '.')] + tokens[1][strings.LastIndexByte(tokens[1], '.'):]
	tokens = append(tokens, forged, "e2e-not-a-jwt-Xw3kP9")
	for _, c := range []struct {
		method, path, token string
		want                int
	}{
		{http.MethodGet, personsPath, syncTok, http.StatusOK},
		{http.MethodPost, personsPath, syncTok, http.StatusOK},
		{http.MethodGet, personsPath, reportTok, http.StatusOK},
		{http.MethodPost, personsPath, reportTok, http.StatusForbidden},
		{http.MethodGet, personsPath, "", http.StatusUnauthorized},
		{http.MethodGet, personsPath, forged, http.StatusUnauthorized},
		{http.MethodGet, personsPath, "e2e-not-a-jwt-Xw3kP9", http.StatusUnauthorized},
		{http.MethodGet, personsPath + "?access_token=" + url.QueryEscape(syncTok), "", http.StatusBadRequest},
	} {
		if resp := g.call(t, c.method, g.PublicURL+c.path, c.token); resp.Status != c.want {
			t.Errorf("%s %s: %s; want %d", c.method, c.path, resp, c.want)
		}
	}

	g.Stop(t)
	stdout, stderr := g.Stdout(), g.Stderr()

	// The demo banner deliberately prints the sample app's public secret
	// in its "Try it" curl command; that is documentation, not a log line.
	// Everything else must be free of secrets.
	banner := "client_secret=" + syncSecret + " "
	if n := strings.Count(stdout, banner); n > 1 {
		t.Errorf("the demo banner's secret appears %d times on stdout; want once (one start)", n)
	}
	for name, out := range map[string]string{"stdout": strings.Replace(stdout, banner, "client_secret=<banner> ", 1), "stderr": stderr} {
		for _, tok := range tokens {
			if strings.Contains(out, tok) {
				t.Errorf("%s contains a raw access token", name)
			}
			sig := tok[strings.LastIndexByte(tok, '.')+1:]
			if leak := sharedRun(out, sig, 16); leak != "" {
				t.Errorf("%s contains part of a token signature: %q", name, leak)
			}
		}
		for _, s := range secrets {
			if strings.Contains(out, s) {
				t.Errorf("%s contains the secret %q", name, s)
			}
			for _, how := range []string{basicAuth(syncClient, s), basicAuth(reportClient, s)} {
				if strings.Contains(out, strings.TrimPrefix(how, "Basic ")) {
					t.Errorf("%s contains a Basic credential", name)
				}
			}
		}
	}

	// The security events are audit lines with SPEC §8's fields.
	seen := map[string]int{}
	for _, line := range strings.Split(stdout+"\n"+stderr, "\n") {
		if !strings.HasPrefix(line, "{") {
			continue
		}
		var fields map[string]any
		if err := json.Unmarshal([]byte(line), &fields); err != nil {
			t.Errorf("log line is not JSON: %v\n%s", err, line)
			continue
		}
		ev, _ := fields["event"].(string)
		if ev == "" {
			continue
		}
		seen[ev]++
		// Every line has these; the others (client_id, subject, session,
		// remote_addr, reason) only when the event has them: an empty
		// field is left out, never written as "" (SPEC §8).
		for _, f := range []string{"time", "event", "request_id"} {
			if _, ok := fields[f]; !ok {
				t.Errorf("audit line %s has no %q field: %s", ev, f, line)
			}
		}
		for f, v := range fields {
			if v == "" || v == nil {
				t.Errorf("audit line %s has an empty %q field: %s", ev, f, line)
			}
		}
		if ev == "token.refused" || ev == "access.denied" {
			if _, ok := fields["reason"]; !ok {
				t.Errorf("refusal %s has no reason: %s", ev, line)
			}
		}
		if ev == "token.issued" {
			for _, f := range []string{"client_id", "subject", "session"} {
				if _, ok := fields[f]; !ok {
					t.Errorf("token.issued has no %q: %s", f, line)
				}
			}
		}
	}
	for ev, min := range map[string]int{
		"token.issued":  4, // four good requests
		"token.refused": 7, // six bad secrets, one password grant
		"access.denied": 5, // scope, no token, forged, malformed, query token
	} {
		if seen[ev] < min {
			t.Errorf("%d %s audit lines; want at least %d", seen[ev], ev, min)
		}
	}
	if t.Failed() {
		t.Logf("audit events seen: %v", seen)
	}

	// The lines say who and why.
	events := auditEvents(t, stderr)
	var issued, refused, denied bool
	for _, e := range events {
		switch {
		case e.Event == "token.issued" && e.ClientID == syncClient && e.Subject == systemUser:
			issued = true
		case e.Event == "token.refused" && e.ClientID == syncClient && e.Reason == "invalid_client":
			refused = true
		case e.Event == "access.denied" && e.ClientID == reportClient && e.Reason != "":
			denied = true
		}
	}
	if !issued || !refused || !denied {
		t.Errorf("want token.issued for %s as %s (%v), token.refused invalid_client for %s (%v), access.denied for %s with a reason (%v)",
			syncClient, systemUser, issued, syncClient, refused, reportClient, denied)
	}
}

// sharedRun returns a substring of secret of length n that occurs in text,
// or "" if there is none: a log that printed part of a token's signature
// (truncated, or split across fields) still leaks it.
func sharedRun(text, secret string, n int) string {
	for i := 0; i+n <= len(secret); i++ {
		if s := secret[i : i+n]; strings.Contains(text, s) {
			return s
		}
	}
	return ""
}

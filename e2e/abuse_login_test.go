package e2e

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// Sign-in throttling against the built binary, behind a load balancer:
// trusted_proxies is 127.0.0.1, so the client address is the one the
// test puts in X-Forwarded-For (README "Security notes").

// forwardedFor makes every request of a browser arrive as if a trusted
// load balancer forwarded it for the client at addr.
type forwardedFor struct {
	addr string
	next http.RoundTripper
}

func (f forwardedFor) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("X-Forwarded-For", f.addr)
	return f.next.RoundTrip(r)
}

// browserAt is a cookie-keeping browser whose requests come from addr.
func browserAt(t *testing.T, addr string) *browser {
	b := newHTTPBrowser(t)
	b.client.Transport = forwardedFor{addr: addr, next: http.DefaultTransport}
	return b
}

func behindLoadBalancer(limits string) gatewayOptions {
	return gatewayOptions{Edit: func(cfg string) string {
		return cfg + "\ntrusted_proxies: [127.0.0.1]\n" + limits
	}}
}

// loginAuditAddrs returns the remote_addr of each login.failed audit
// line whose reason is reason.
func loginAuditAddrs(t *testing.T, g *Gateway, reason string) []string {
	t.Helper()
	var addrs []string
	for _, line := range strings.Split(g.Stderr(), "\n") {
		var e struct {
			Event      string `json:"event"`
			Reason     string `json:"reason"`
			RemoteAddr string `json:"remote_addr"`
		}
		if json.Unmarshal([]byte(line), &e) == nil && e.Event == "login.failed" && e.Reason == reason {
			host, _, err := net.SplitHostPort(e.RemoteAddr)
			if err != nil {
				host = e.RemoteAddr
			}
			addrs = append(addrs, host)
		}
	}
	return addrs
}

// Failures for alice forwarded for one address are refused there after
// limits.login_failures_per_account_address, the right password
// included, and do not lock out alice signing in from another address.
func TestAbuseLoginFailuresDoNotLockOutOtherAddress(t *testing.T) {
	t.Parallel()
	g := startGateway(t, behindLoadBalancer(""))
	page := g.PublicURL + "/api/domain/html/x"

	attacker := browserAt(t, "203.0.113.7")
	for i := range 30 {
		resp, body := attacker.signIn(g, page, aliceLogin, fmt.Sprint("guess-", i))
		want := http.StatusOK // the login page again, "Wrong login or password."
		if i >= 5 {
			want = http.StatusTooManyRequests
		}
		if resp.StatusCode != want {
			t.Fatalf("guess %d from the attacker's address: %d, want %d:\n%s", i, resp.StatusCode, want, body)
		}
		if want == http.StatusTooManyRequests && (resp.Header.Get("Retry-After") == "" || !strings.Contains(body, "Try again in ")) {
			t.Fatalf("guess %d: 429 without Retry-After or a wait on the page: %v", i, resp.Header)
		}
	}
	if resp, _ := attacker.signIn(g, page, aliceLogin, alicePassword); resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("the right password from the attacker's address: %d, want 429", resp.StatusCode)
	}

	owner := browserAt(t, "198.51.100.2")
	resp, body := owner.signIn(g, page, aliceLogin, alicePassword)
	if m := subjectRe.FindStringSubmatch(body); resp.StatusCode != http.StatusOK || m == nil || m[1] != aliceLogin {
		t.Fatalf("alice from her own address after the attack: %d at %s:\n%s", resp.StatusCode, resp.Request.URL, body)
	}

	// The throttle and the audit saw the forwarded client, not the proxy.
	for _, a := range loginAuditAddrs(t, g, "throttled_account_address") {
		if a != "203.0.113.7" {
			t.Errorf("a refusal audited for %s, want the forwarded 203.0.113.7", a)
		}
	}
	if n := len(loginAuditAddrs(t, g, "throttled_account_address")); n != 26 {
		t.Errorf("%d refusals audited, want 26", n)
	}
}

// An account attacked from many addresses slows down and never locks:
// past limits.login_delay_after failures every attempt waits, and the
// right password from a new address still signs in, after the capped
// delay.
func TestAbuseLoginAttackedAccountStillSignsIn(t *testing.T) {
	t.Parallel()
	g := startGateway(t, behindLoadBalancer("limits: {login_delay_after: 3, login_delay_base: 200ms, login_delay_max: 800ms}\n"))
	page := g.PublicURL + "/api/domain/html/x"

	for i := range 12 { // each guess from a new address: no address or pair block applies
		b := browserAt(t, fmt.Sprintf("10.77.0.%d", i+1))
		if resp, body := b.signIn(g, page, aliceLogin, "Winter2026!"); resp.StatusCode != http.StatusOK {
			t.Fatalf("guess %d: %d, want 200 (wrong password):\n%s", i, resp.StatusCode, body)
		}
	}
	owner := browserAt(t, "198.51.100.9")
	start := time.Now()
	resp, body := owner.signIn(g, page, aliceLogin, alicePassword)
	took := time.Since(start)
	if m := subjectRe.FindStringSubmatch(body); resp.StatusCode != http.StatusOK || m == nil || m[1] != aliceLogin {
		t.Fatalf("alice while her account is attacked: %d at %s:\n%s", resp.StatusCode, resp.Request.URL, body)
	}
	// Slowly: the capped delay applies to the right password too.
	if took < 800*time.Millisecond {
		t.Errorf("alice's sign-in took %s; the account's delay (800ms) was not applied", took)
	}
	if n := len(loginAuditAddrs(t, g, "wrong_credentials")); n != 12 {
		t.Errorf("%d failures audited, want 12", n)
	}
}

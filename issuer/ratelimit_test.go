package issuer

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/erpgate/erpgate/directory"
	"github.com/erpgate/erpgate/metrics"
)

func ccForm() url.Values { return form("grant_type", "client_credentials") }

// checkTooMany asserts the 429 shape: RFC 6749 §5.2 JSON with
// temporarily_unavailable, Retry-After (RFC 6585 §4) and no-store.
func checkTooMany(t *testing.T, r tokenResult, wantRetry string) {
	t.Helper()
	if r.status != http.StatusTooManyRequests || r.body["error"] != "temporarily_unavailable" ||
		r.header.Get("Retry-After") != wantRetry || r.header.Get("Cache-Control") != "no-store" {
		t.Fatalf("want 429 temporarily_unavailable, Retry-After %s: %d %v %v", wantRetry, r.status, r.header, r.body)
	}
	if d, _ := r.body["error_description"].(string); !strings.Contains(d, "retry after "+wantRetry+" s") {
		t.Errorf("error_description %q", d)
	}
}

func TestTokenRateLimitPerClient(t *testing.T) {
	ts := newTestServer(t, func(c *testConfig) {
		c.Limits = Limits{TokenRequestsPerSecond: 1, TokenBurst: 3}
	})
	for i := range 3 {
		if r := ts.token(t, ccForm(), syncID, syncSecret); r.status != 200 {
			t.Fatalf("request %d inside the burst: %d %v", i, r.status, r.body)
		}
	}
	checkTooMany(t, ts.token(t, ccForm(), syncID, syncSecret), "1")

	// Another client has its own bucket.
	if r := ts.token(t, form("grant_type", "client_credentials"), "com.example/reporting", "r"); r.status != http.StatusBadRequest || r.body["error"] != "unauthorized_client" {
		t.Fatalf("another client while the first is limited: %d %v", r.status, r.body)
	}

	// The bucket refills at the configured rate, on the injected clock.
	*ts.now = ts.now.Add(1500 * time.Millisecond)
	if r := ts.token(t, ccForm(), syncID, syncSecret); r.status != 200 {
		t.Fatalf("after refill: %d %v", r.status, r.body)
	}
	checkTooMany(t, ts.token(t, ccForm(), syncID, syncSecret), "1")

	if n := testutil.ToFloat64(ts.metrics.TokenErrors.WithLabelValues("client_credentials", "temporarily_unavailable")); n != 2 {
		t.Errorf("token_errors_total{error=temporarily_unavailable} = %v, want 2", n)
	}
	wantRefusals(t, ts, map[string]float64{metrics.LimiterToken: 2})
}

// wantRefusals checks erpgate_rate_limit_refusals_total of every limiter:
// those in want have their count, the others none.
func wantRefusals(t *testing.T, ts *testServer, want map[string]float64) {
	t.Helper()
	for _, l := range []string{metrics.LimiterToken, metrics.LimiterClientAuth, metrics.LimiterLogin} {
		if n := testutil.ToFloat64(ts.metrics.RateLimitRefusals.WithLabelValues(l)); n != want[l] {
			t.Errorf("rate_limit_refusals_total{limiter=%q} = %v, want %v", l, n, want[l])
		}
	}
}

// Requests whose client does not authenticate share their address's
// bucket, so guessing secrets or inventing clients cannot drain a real
// client's bucket, and is itself limited.
func TestTokenRateLimitUnauthenticatedByAddress(t *testing.T) {
	ts := newTestServer(t, func(c *testConfig) {
		c.Limits = Limits{TokenRequestsPerSecond: 1, TokenBurst: 2}
	})
	for _, c := range []struct{ id, secret string }{{"com.example/unknown", "x"}, {syncID, "wrong"}} {
		if r := ts.token(t, ccForm(), c.id, c.secret); r.status != http.StatusUnauthorized {
			t.Fatalf("%s: %d %v", c.id, r.status, r.body)
		}
	}
	checkTooMany(t, ts.token(t, ccForm(), "com.example/another-unknown", "x"), "1")
	// The real client, from the same address, is not affected.
	if r := ts.token(t, ccForm(), syncID, syncSecret); r.status != 200 {
		t.Fatalf("authenticated client after address bucket emptied: %d %v", r.status, r.body)
	}
}

func TestTokenRateKey(t *testing.T) {
	r := httptest.NewRequest("POST", "/id/connect/token", nil)
	r.RemoteAddr = "192.0.2.7:4711"
	for _, tc := range []struct {
		name string
		app  *directory.App
		want string
	}{
		{"confidential: per client, any address", &directory.App{ID: "c"}, "client:c"},
		{"public: per client and address", &directory.App{ID: "p", Public: true}, "public:p 192.0.2.7"},
		{"not authenticated: per address", nil, "address:192.0.2.7"},
	} {
		if got := tokenRateKey(r, tc.app); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestTokenRateLimitOffByDefault(t *testing.T) {
	ts := newTestServer(t, nil)
	for i := range 30 {
		if r := ts.token(t, ccForm(), syncID, syncSecret); r.status != 200 {
			t.Fatalf("request %d without a limit: %d", i, r.status)
		}
	}
}

func TestBucketLimiter(t *testing.T) {
	now := testNow
	l := newBucketLimiter(func() time.Time { return now }, 10, 2)
	take := func() bool { ok, _ := l.take("k"); return ok }
	// takes returns n takes in order, each one spent.
	takes := func(n int) []bool {
		out := make([]bool, n)
		for i := range out {
			out[i] = take()
		}
		return out
	}
	if got := takes(3); !slices.Equal(got, []bool{true, true, false}) {
		t.Fatalf("burst of 2 not enforced: %v", got)
	}
	_, wait := l.take("k")
	if wait <= 0 || wait > 100*time.Millisecond {
		t.Errorf("wait %v, want (0, 100ms]", wait)
	}
	now = now.Add(100 * time.Millisecond)
	if got := takes(2); !slices.Equal(got, []bool{true, false}) {
		t.Fatalf("one token per 100ms at 10/s: %v", got)
	}
	now = now.Add(time.Hour)
	if got := takes(3); !slices.Equal(got, []bool{true, true, false}) {
		t.Fatalf("refill is capped at the burst: %v", got)
	}
	if ok, _ := (*bucketLimiter)(nil).take("k"); !ok {
		t.Fatal("nil limiter limits")
	}
	if newBucketLimiter(time.Now, 0, 5) != nil {
		t.Fatal("rate 0 should mean no limiter")
	}
}

package browserlogin

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/erpgate/erpgate/policy"
)

// jarRequest is a GET of path carrying the browser's cookies.
func (e *env) jarRequest(path string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, e.srv.URL+path, nil)
	u, _ := url.Parse(e.srv.URL + path)
	for _, c := range e.browser.Jar.Cookies(u) {
		r.AddCookie(c)
	}
	return r
}

// TestStepUp: StartStepUp and StartPath with acr_values/max_age ask the
// issuer for them (RFC 9470 §4) without prompt=login and without
// clearing the session; the callback records the step-up on the new
// session, and SteppedUp answers for a requirement it covers only
// within the loop guard's window.
func TestStepUp(t *testing.T) {
	e := newEnv(t, nil)
	if resp, body := e.get(t, "/app/x"); resp.StatusCode != http.StatusOK {
		t.Fatalf("login: %d %s", resp.StatusCode, body)
	}
	req := policy.StepUp{ACR: policy.ACRMFA, MaxAge: 15 * time.Minute}
	if e.login.SteppedUp(e.jarRequest("/app/x"), req) {
		t.Fatal("an ordinary sign-in counts as a step-up")
	}

	// StartStepUp, as the proxy calls it.
	rec := httptest.NewRecorder()
	e.login.StartStepUp(rec, e.jarRequest("/app/report?id=7"), req)
	loc, _ := url.Parse(rec.Header().Get("Location"))
	if q := loc.Query(); rec.Code != http.StatusFound || loc.Path != "/id/connect/authorize" ||
		q.Get("acr_values") != "mfa" || q.Get("max_age") != "900" || q.Get("prompt") != "" {
		t.Fatalf("StartStepUp: %d %s", rec.Code, loc)
	}
	for _, c := range rec.Result().Cookies() {
		if c.Name == sessionCookie+"_0" {
			t.Errorf("StartStepUp touched the session cookie: %v", c)
		}
	}

	// StartPath with the step-up, as forward auth sends browsers there.
	resp, err := e.noFollow().Get(e.srv.URL + StartPath + "?rd=%2Fapp%2Freport&acr_values=mfa&max_age=900")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	u, _ := url.Parse(resp.Header.Get("Location"))
	if q := u.Query(); resp.StatusCode != http.StatusFound || q.Get("acr_values") != "mfa" || q.Get("max_age") != "900" || q.Get("prompt") != "" {
		t.Fatalf("start with a step-up: %d %s", resp.StatusCode, u)
	}
	if len(e.sessionCookies(t)) == 0 {
		t.Fatal("start with a step-up cleared the session")
	}
	cb := authorize(t, e, u)
	resp, err = e.noFollow().Get(cb.String())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "/app/report" {
		t.Fatalf("callback: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}

	r := e.jarRequest("/app/report")
	for _, tc := range []struct {
		name string
		req  policy.StepUp
		want bool
	}{
		{"the same requirement", req, true},
		{"a weaker one", policy.StepUp{ACR: policy.ACRPassword}, true},
		{"a shorter max_age than asked", policy.StepUp{ACR: policy.ACRMFA, MaxAge: time.Minute}, false},
	} {
		if got := e.login.SteppedUp(r, tc.req); got != tc.want {
			t.Errorf("SteppedUp(%s) = %v, want %v", tc.name, got, tc.want)
		}
	}
	e.advance(stepUpGuard + time.Second)
	if e.login.SteppedUp(e.jarRequest("/app/report"), req) {
		t.Error("SteppedUp still true after the loop guard's window: a max_age that ran out again could never be asked for")
	}
}

func TestStepUpFromQuery(t *testing.T) {
	for _, tc := range []struct {
		acr, maxAge string
		want        policy.StepUp
	}{
		{"mfa", "900", policy.StepUp{ACR: "mfa", MaxAge: 900 * time.Second}},
		{"otp", "", policy.StepUp{}},
		{"", "-5", policy.StepUp{}},
		{"", "1e3", policy.StepUp{}},
		{"pwd", "99999999999", policy.StepUp{ACR: "pwd"}},
	} {
		if got := stepUpFromQuery(tc.acr, tc.maxAge); got != tc.want {
			t.Errorf("stepUpFromQuery(%q, %q) = %+v, want %+v", tc.acr, tc.maxAge, got, tc.want)
		}
	}
}

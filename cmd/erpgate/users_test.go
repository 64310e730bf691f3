package main

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/erpgate/erpgate/password"
	"github.com/erpgate/erpgate/sampleapi"
	"github.com/erpgate/erpgate/store"
)

// runCmdIn is runCmd with stdin.
func runCmdIn(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb strings.Builder
	e := env{stdin: strings.NewReader(stdin), stdout: &out, stderr: &errb, lookup: func(string) (string, bool) { return "", false }}
	code = run(context.Background(), args, e)
	return code, out.String(), errb.String()
}

// TestUsersCLI: the users commands manage stored users in the config's
// store while the gateway runs: a user created with a password from
// stdin has it (argon2id), acts through the proxy, and once disabled by
// the CLI is refused by the running gateway within two seconds, their
// session ended in the store (so it stays ended when re-enabled). File
// users are read-only; bad input gets a clear error.
func TestUsersCLI(t *testing.T) {
	base, g, cfg := startWithConfigFile(t)
	ctx := t.Context()
	const bobPassword = "bob-has-a-long-password"
	code, out, errOut := runCmdIn(t, bobPassword+"\n", "users", "create", "--config", cfg, "--name", "Bob Builder",
		"--email", "bob@example.com", "--locale", "bg-BG", "--password-stdin", "bob")
	if code != 0 || !strings.Contains(out, "user bob created") {
		t.Fatalf("users create: exit %d: %s %s", code, out, errOut)
	}
	stored, err := g.store.User(ctx, "bob")
	if err != nil {
		t.Fatalf("bob in the store: %v", err)
	}
	if ok, err := password.Verify(stored.PasswordHash, bobPassword); !ok || err != nil {
		t.Errorf("bob's stored hash does not verify the password from stdin: %v %v", ok, err)
	}

	code, out, _ = runCmd(t, "users", "list", "--config", cfg)
	if code != 0 {
		t.Fatalf("users list: exit %d", code)
	}
	for _, re := range []string{`(?m)^alice +internal +\S+ +enabled +config `, `(?m)^bob +internal +no +enabled +store +Bob Builder +bob@example.com$`} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("users list lacks a row matching %s:\n%s", re, out)
		}
	}
	if strings.Contains(out, "argon2id") {
		t.Errorf("users list shows a password hash:\n%s", out)
	}

	// The running gateway learns of bob from its directory poll.
	bob := mint(t, g, "bob", "sid-cli-bob", false, "read")
	waitStatus(t, base+sampleapi.PersonsPath, bob, 200, "`users create`")
	code, out, errOut = runCmd(t, "users", "disable", "--config", cfg, "bob")
	if code != 0 || !strings.Contains(out, "user bob disabled") {
		t.Fatalf("users disable: exit %d: %s %s", code, out, errOut)
	}
	waitStatus(t, base+sampleapi.PersonsPath, bob, 401, "`users disable`")
	open, err := g.store.OpenSessions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range open {
		if s.Subject == "bob" {
			t.Errorf("bob's session %s is still open after `users disable`", s.ID)
		}
	}
	if s, err := g.store.Session(ctx, "sid-cli-bob"); err != nil || s.EndReason != store.EndAdmin {
		t.Errorf("bob's session after disable: %+v %v; want ended, reason admin", s, err)
	}
	if code, out, _ := runCmd(t, "users", "enable", "--config", cfg, "bob"); code != 0 || !strings.Contains(out, "enabled") {
		t.Fatalf("users enable: exit %d %s", code, out)
	}
	// The ended session stays ended; a new one works.
	time.Sleep(1500 * time.Millisecond) // the gateway's directory poll
	if code, _ := call(t, "GET", base+sampleapi.PersonsPath, bob); code != 401 {
		t.Errorf("bob's ended session after enable: %d, want 401", code)
	}
	if code, body := call(t, "GET", base+sampleapi.PersonsPath, mint(t, g, "bob", "sid-cli-bob-2", false, "read")); code != 200 {
		t.Errorf("a new session of re-enabled bob: %d %s", code, body)
	}

	code, out, errOut = runCmd(t, "users", "set", "--config", cfg, "--name", "Bob B", "--admin=true", "bob")
	if code != 0 || !regexp.MustCompile(`(?m)^name +Bob B$`).MatchString(out) || !regexp.MustCompile(`(?m)^admin +yes$`).MatchString(out) {
		t.Errorf("users set: exit %d: %s %s", code, out, errOut)
	}
	if code, out, _ := runCmd(t, "users", "show", "--config", cfg, "bob"); code != 0 || !regexp.MustCompile(`(?m)^email +bob@example.com$`).MatchString(out) ||
		!regexp.MustCompile(`(?m)^source +store$`).MatchString(out) {
		t.Errorf("users show: exit %d:\n%s", code, out)
	}
	code, out, _ = runCmd(t, "users", "reset-link", "--config", cfg, "bob")
	if code != 0 || !regexp.MustCompile(`^`+regexp.QuoteMeta(base)+`/id/account/reset\?token=[A-Za-z0-9_-]{43}\n`).MatchString(out) {
		t.Errorf("users reset-link: exit %d:\n%s", code, out)
	}
	if code, out, _ := runCmdIn(t, "another-long-password\n", "users", "password", "--config", cfg, "bob"); code != 0 || !strings.Contains(out, "password of bob set") {
		t.Errorf("users password: exit %d %s", code, out)
	}
	if s, _ := g.store.User(ctx, "bob"); s.PasswordHash == stored.PasswordHash {
		t.Errorf("users password did not change the stored hash")
	}

	// Second factors are reset in the store, for stored and file users.
	for _, login := range []string{"bob", "alice"} {
		if err := g.store.SaveTOTP(ctx, store.TOTPFactor{Login: login, Secret: "JBSWY3DPEHPK3PXP", CreatedAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
		if err := g.store.SaveRecoveryCodes(ctx, login, []string{"h1"}, time.Now()); err != nil {
			t.Fatal(err)
		}
		code, out, errOut = runCmd(t, "users", "reset-factors", "--config", cfg, login)
		if code != 0 || !strings.Contains(out, "second factors of "+login+" removed") {
			t.Fatalf("users reset-factors %s: exit %d: %s %s", login, code, out, errOut)
		}
		if _, err := g.store.TOTP(ctx, login); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("%s's TOTP factor after reset-factors: %v", login, err)
		}
		if hs, _ := g.store.RecoveryCodes(ctx, login); len(hs) != 0 {
			t.Errorf("%s's recovery codes after reset-factors: %v", login, hs)
		}
	}
	if code, _, errOut := runCmd(t, "users", "reset-factors", "--config", cfg, "nobody"); code != 1 || !strings.Contains(errOut, "no such user") {
		t.Errorf("reset-factors of an unknown user: exit %d %s", code, errOut)
	}

	code, out, errOut = runCmd(t, "users", "delete", "--config", cfg, "bob")
	if code != 0 || !strings.Contains(out, "user bob deleted") {
		t.Fatalf("users delete: exit %d: %s %s", code, out, errOut)
	}
	if code, _, errOut := runCmd(t, "users", "show", "--config", cfg, "bob"); code != 1 || !strings.Contains(errOut, "no such user") {
		t.Errorf("show after delete: exit %d %s", code, errOut)
	}

	// Refusals, each with its reason.
	for _, tc := range []struct {
		stdin string
		args  []string
		code  int
		want  string
	}{
		{"", []string{"users", "disable", "--config", cfg, "alice"}, 1, "defined in the config file"},
		{"", []string{"users", "create", "--config", cfg, "alice"}, 1, "exists"},
		{"", []string{"users", "create", "--config", cfg, "bad login"}, 1, "user.login: letters, digits"},
		{"", []string{"users", "create", "--config", cfg, "--email", "Carol <c@example.com>", "--locale", "bg_BG", "--type", "admin", "carol"}, 1,
			"user.email: must be a bare email address"},
		{"", []string{"users", "create", "--config", cfg, "--locale", "bg_BG", "carol"}, 1, `separated by "-": bg-BG`},
		{"short\n", []string{"users", "create", "--config", cfg, "--password-stdin", "carol"}, 1, "user.password: must have at least 12 characters"},
		{"", []string{"users", "create", "--config", cfg, "--password-stdin", "carol"}, 1, "nothing on standard input"},
		{"", []string{"users", "set", "--config", cfg, "carol"}, 2, "nothing to change"},
		{"", []string{"users", "show", "--config", cfg}, 2, "want LOGIN"},
		{"", []string{"users", "password", "--config", cfg, "nobody"}, 1, "standard input"},
		{"a-long-enough-password\n", []string{"users", "password", "--config", cfg, "nobody"}, 1, "no such user"},
	} {
		code, _, errOut := runCmdIn(t, tc.stdin, tc.args...)
		if code != tc.code || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: exit %d %q; want %d and %q", tc.args[1:], code, errOut, tc.code, tc.want)
		}
	}
}

// waitStatus polls u with tok until it answers want, for at most two
// seconds after what.
func waitStatus(t *testing.T, u, tok string, want int, what string) {
	t.Helper()
	start := time.Now()
	for {
		code, body := call(t, "GET", u, tok)
		if code == want {
			t.Logf("measured: %d %s after %s", want, time.Since(start).Round(time.Millisecond), what)
			return
		}
		if time.Since(start) > 2*time.Second {
			t.Fatalf("the running gateway still answers %d %s 2s after %s", code, body, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

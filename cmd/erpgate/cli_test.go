package main

import (
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

// TestEveryCommandHasHelp: for every command of the table (so a new one
// cannot skip it), --help and -h print its usage with its flags to
// stdout and exit 0, `erpgate help NAME` prints the same, and an unknown
// flag prints the usage to stderr with exit 2.
func TestEveryCommandHasHelp(t *testing.T) {
	for _, c := range commandTable() {
		name := strings.Fields(c.name)
		t.Run(c.name, func(t *testing.T) {
			code, out, errOut := runCmd(t, append(name, "--help")...)
			if code != 0 || errOut != "" || !strings.HasPrefix(out, "usage: erpgate "+c.name) || !strings.Contains(out, "-h, --help") {
				t.Fatalf("%s --help: exit %d, stdout:\n%s\nstderr:\n%s", c.name, code, out, errOut)
			}
			if code, short, _ := runCmd(t, append(name, "-h")...); code != 0 || short != out {
				t.Errorf("%s -h: exit %d, differs from --help:\n%s", c.name, code, short)
			}
			if code, viaHelp, _ := runCmd(t, append([]string{"help"}, name...)...); code != 0 || viaHelp != out {
				t.Errorf("help %s: exit %d, differs from --help:\n%s", c.name, code, viaHelp)
			}
			code, out2, errOut := runCmd(t, append(name, "--no-such-flag")...)
			if code != 2 || out2 != "" || !strings.Contains(errOut, "flag provided but not defined: -no-such-flag") ||
				!strings.Contains(errOut, "usage: erpgate "+c.name) {
				t.Errorf("%s --no-such-flag: exit %d, stdout %q, stderr:\n%s", c.name, code, out2, errOut)
			}
		})
	}
	// Each flag is listed in the --help of its command only.
	_, list, _ := runCmd(t, "tokens", "list", "--help")
	if !strings.Contains(list, "--user LOGIN") || !strings.Contains(list, "--config FILE") || strings.Contains(list, "--expires") {
		t.Errorf("tokens list --help shows other commands' flags or lacks its own:\n%s", list)
	}
	_, issue, _ := runCmd(t, "tokens", "issue", "--help")
	if !strings.Contains(issue, "--expires DURATION") || !strings.Contains(issue, "--type pat|sat") {
		t.Errorf("tokens issue --help:\n%s", issue)
	}
}

// TestHelpAndUsage: the top-level and group usages, and where they go.
func TestHelpAndUsage(t *testing.T) {
	for _, args := range [][]string{{"help"}, {"--help"}, {"-h"}} {
		code, out, errOut := runCmd(t, args...)
		if code != 0 || errOut != "" || !strings.Contains(out, "commands:") || !strings.Contains(out, "  tokens list") {
			t.Errorf("%q: exit %d\n%s%s", args, code, out, errOut)
		}
	}
	if code, out, errOut := runCmd(t); code != 2 || out != "" || !strings.Contains(errOut, "commands:") {
		t.Errorf("no command: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	if code, _, errOut := runCmd(t, "frobnicate"); code != 2 || !strings.Contains(errOut, `unknown command "frobnicate"`) {
		t.Errorf("unknown command: exit %d, %s", code, errOut)
	}
	for _, args := range [][]string{{"tokens", "--help"}, {"help", "tokens"}} {
		code, out, _ := runCmd(t, args...)
		if code != 0 || !strings.Contains(out, "usage: erpgate tokens COMMAND") || !strings.Contains(out, "  revoke") {
			t.Errorf("%q: exit %d\n%s", args, code, out)
		}
	}
	if code, out, errOut := runCmd(t, "tokens"); code != 2 || out != "" || !strings.Contains(errOut, "missing subcommand: issue, list or revoke") {
		t.Errorf("tokens: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	if code, _, errOut := runCmd(t, "help", "nope"); code != 2 || !strings.Contains(errOut, `no command "nope"`) {
		t.Errorf("help nope: exit %d, %s", code, errOut)
	}
	if code, _, errOut := runCmd(t, "check", "extra"); code != 2 || !strings.Contains(errOut, `takes no operands, got "extra"`) {
		t.Errorf("check extra: exit %d, %s", code, errOut)
	}
}

// goPackagePrefix is how a Go package name leaks into a message:
// "strconv.ParseInt: …", "config: …", "reftoken: bad request: …".
var goPackagePrefix = regexp.MustCompile(`(?m)(^|: )(strconv\.\w+|time: |config: |reftoken: |signing: |sqlite: |postgres: |gateway: |flag: )`)

// TestMessagesForPeople: the messages a mistaken operator sees name what
// is wrong and what is expected, never a Go package.
func TestMessagesForPeople(t *testing.T) {
	_, _, cfg := startWithEditedConfig(t, allowRefTokens)
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"tokens", "issue", "--config", cfg, "--type", "sat", "--app", "com.example/nightly-sync", "--expires", "30x"}, 2,
			`invalid value "30x" for flag -expires: must be a duration such as 20m, 1h, 60s or 30d`},
		{[]string{"tokens", "issue", "--config", cfg, "--type", "nope", "--app", "com.example/nightly-sync", "--expires", "1d"}, 1, "type must be pat or sat"},
		{[]string{"tokens", "issue", "--config", cfg, "--type", "sat", "--app", "com.example/none", "--expires", "1d"}, 1, `unknown application "com.example/none"`},
		{[]string{"admin", "token", "--config", cfg, "--ttl", "2h"}, 1, "at most tokens.access_token_ttl (1h)"},
		{[]string{"sessions", "list", "--config", cfg + ".missing"}, 1, "no such file"},
		{[]string{"backup", "--config", cfg, cfg}, 1, "already exists"},
	} {
		code, _, errOut := runCmd(t, tc.args...)
		if code != tc.code || !strings.Contains(errOut, tc.want) {
			t.Errorf("%q: exit %d, stderr:\n%s\nwant exit %d and %q", tc.args, code, errOut, tc.code, tc.want)
		}
		if m := goPackagePrefix.FindString(errOut); m != "" {
			t.Errorf("%q: a Go package name in the message (%q):\n%s", tc.args, m, errOut)
		}
	}
}

// TestTokensDays: --expires takes days, and `tokens list` says "never"
// for a token not used yet.
func TestTokensDays(t *testing.T) {
	_, _, cfg := startWithEditedConfig(t, allowRefTokens)
	code, out, errOut := runCmd(t, "tokens", "issue", "--config", cfg, "--type", "sat", "--app", "com.example/nightly-sync", "--expires", "30d")
	if code != 0 {
		t.Fatalf("issue --expires 30d: exit %d: %s", code, errOut)
	}
	_, list, _ := runCmd(t, "tokens", "list", "--config", cfg)
	row := strings.Split(list, "\n")[1]
	if !strings.Contains(row, " never ") {
		t.Errorf("an unused token's LAST USED is not never:\n%s", list)
	}
	_ = out
}

// TestAdminToken: `erpgate admin token` on the example config mints a
// token of its admin-scripts app, which the running gateway's admin API
// accepts; with a second app allowed sec it asks which one.
func TestAdminToken(t *testing.T) {
	_, g, cfg := startWithEditedConfig(t, func(yml string) string { return yml })
	code, out, errOut := runCmd(t, "admin", "token", "--config", cfg, "--ttl", "10m")
	if code != 0 {
		t.Fatalf("admin token: exit %d: %s", code, errOut)
	}
	tok := strings.TrimSpace(out)
	if !strings.Contains(errOut, `"event":"token.issued"`) || !strings.Contains(errOut, `"grant_type":"admin_cli"`) ||
		!strings.Contains(errOut, `"client_id":"com.example/admin-cli"`) || !strings.Contains(errOut, `"subject":"svc-admin"`) || strings.Contains(errOut, tok) {
		t.Errorf("the audit line of admin token (the admin-scripts app, never the token):\n%s", errOut)
	}
	for _, path := range []string{"/admin/sessions", "/admin/license"} {
		req, _ := http.NewRequest("GET", path, nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		rec := httptest.NewRecorder()
		g.admin.ServeHTTP(rec, req)
		if rec.Code != 200 {
			t.Fatalf("GET %s with the admin token: %d %s", path, rec.Code, rec.Body)
		}
	}
	req, _ := http.NewRequest("GET", "/admin/sessions", nil)
	req.Header.Set("Authorization", "Bearer "+tok+"x")
	rec := httptest.NewRecorder()
	g.admin.ServeHTTP(rec, req)
	if rec.Code != 401 {
		t.Fatalf("a damaged admin token: %d, want 401", rec.Code)
	}

	_, _, two := startWithEditedConfig(t, allowRefTokens) // nightly-sync may act with sec too
	if code, _, errOut := runCmd(t, "admin", "token", "--config", two); code != 1 ||
		!strings.Contains(errOut, "several apps may act with scope sec (com.example/admin-cli, com.example/nightly-sync); choose one with --app") {
		t.Errorf("admin token with two sec apps: exit %d, stderr:\n%s", code, errOut)
	}
	if code, _, errOut := runCmd(t, "admin", "token", "--config", two, "--app", "com.example/nightly-sync"); code != 0 {
		t.Errorf("admin token --app com.example/nightly-sync: exit %d: %s", code, errOut)
	}
}

package main

import (
	"context"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The explanation itself is package explain's, tested there; these tests
// run the command: its flags, exit codes, config and stdin.

const explainConfig = "../../explain/testdata/explain.yaml"

// runExplain runs the binary's dispatcher with buffers, as main does.
func runExplain(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb strings.Builder
	e := env{
		stdin: strings.NewReader(stdin), stdout: &out, stderr: &errb,
		lookup: func(string) (string, bool) { return "", false },
	}
	code = run(context.Background(), args, e)
	return code, out.String(), errb.String()
}

func TestExplain(t *testing.T) {
	enc := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	userToken := enc(`{"alg":"RS256","typ":"at+jwt"}`) + "." +
		enc(`{"iss":"http://localhost:8080/id","aud":["DomainAPI"],"scope":["read"],"sub":"alice"}`) + ".sig"

	tests := []struct {
		name       string
		args       []string // after "policy explain --config explain.yaml"
		stdin      string
		wantCode   int
		wantReason string   // the "reason" line; "" for usage errors
		wantOut    []string // substrings of stdout
		wantErr    string   // substring of stderr
	}{
		{
			name: "no credentials", args: []string{"GET", "/api/domain/odata/x"},
			wantCode: explainDeny, wantReason: "missing_credentials",
			wantOut: []string{"request   GET /api/domain/odata/x\ncaller    no credentials"},
		},
		{
			name: "public route", args: []string{"GET", "https://erp.example.com/api/health?x=1"},
			wantCode: explainAllow, wantReason: "public",
			wantOut: []string{"request   GET /api/health\n"},
		},
		{
			name: "assumed scopes allow", args: []string{"--scopes", "read", "GET", "/api/domain/odata/x"},
			wantCode: explainAllow, wantReason: "allowed",
			wantOut: []string{`audiences "DomainAPI", "TableAPI" (tokens.audiences`, `scopes "read"`},
		},
		{
			name: "flags after the operands, as SPEC §1 writes them", args: []string{"POST", "/api/domain/odata/x", "--scopes", "read"},
			wantCode: explainDeny, wantReason: "insufficient_scope",
			wantOut: []string{`why       route "domain-write" requires scope "update"; token has "read"`},
		},
		{
			name: "empty scopes", args: []string{"GET", "/api/reports/daily", "--scopes", ""},
			wantCode: explainDeny, wantReason: "insufficient_scope",
			wantOut: []string{"scopes none\n", `token has no scopes`},
		},
		{
			name: "assumed audience", args: []string{"--scopes", "read", "--audience", "TableAPI", "GET", "/api/domain/x"},
			wantCode: explainDeny, wantReason: "wrong_audience",
			wantOut: []string{`audiences "TableAPI" (--audience)`},
		},
		{
			name: "audience alone, empty", args: []string{"--audience", "", "GET", "/api/domain/x"},
			wantCode: explainDeny, wantReason: "wrong_audience",
			wantOut: []string{"audiences none (--audience)\n", "scopes none\n"},
		},
		{
			name: "lower-case method", args: []string{"get", "/api/domain/x", "--scopes", "read"},
			wantCode: explainAllow, wantReason: "allowed",
			wantOut: []string{"request   GET /api/domain/x"},
		},
		{
			name: "token", args: []string{"--token", userToken, "GET", "/api/domain/x"},
			wantCode: explainAllow, wantReason: "allowed",
			wantOut: []string{`user "alice"`},
		},
		{
			name: "token on stdin with its Bearer prefix", args: []string{"--token", "-", "GET", "/api/domain/x"},
			stdin: "Bearer " + userToken + "\n", wantCode: explainAllow, wantReason: "allowed",
			wantOut: []string{`user "alice"`},
		},
		{
			name: "operands after --", args: []string{"--scopes", "read", "--", "GET", "/api/domain/x"},
			wantCode: explainAllow, wantReason: "allowed",
		},

		// Usage errors: exit 2, nothing on stdout.
		{name: "no operands", args: nil, wantCode: explainUsage, wantErr: "want METHOD and URL, got 0 operand(s)\n\nusage: erpgate policy explain"},
		{name: "three operands", args: []string{"GET", "/a", "/b"}, wantCode: explainUsage, wantErr: "got 3 operand(s)"},
		{name: "unknown flag", args: []string{"--scope", "read", "GET", "/a"}, wantCode: explainUsage, wantErr: "flag provided but not defined: -scope"},
		{
			name: "token and scopes", args: []string{"--token", userToken, "--scopes", "read", "GET", "/a"},
			wantCode: explainUsage, wantErr: "do not combine it with --scopes",
		},
		{
			name: "token and audience", args: []string{"--audience", "A", "--token", userToken, "GET", "/a"},
			wantCode: explainUsage, wantErr: "do not combine it with --scopes or --audience",
		},
		{
			name: "not a JWT", args: []string{"--token", "abc", "GET", "/a"},
			wantCode: explainUsage, wantErr: "erpgate policy explain: --token: not a JWT access token the proxy reads (it answers 401 invalid_token)",
		},
		{
			name: "empty stdin is an empty token, not none", args: []string{"--token", "-", "GET", "/a"},
			wantCode: explainUsage, wantErr: "erpgate policy explain: --token: malformed Authorization header",
		},
		{
			name: "not a JWT on stdin", args: []string{"--token", "-", "GET", "/a"}, stdin: "abc\n",
			wantCode: explainUsage, wantErr: "erpgate policy explain: --token: not a JWT access token",
		},
		{name: "opaque URL", args: []string{"GET", "mailto:x@example.com"}, wantCode: explainUsage, wantErr: "erpgate policy explain: URL \"mailto:x@example.com\": give a path"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"policy", "explain", "--config", explainConfig}, tt.args...)
			code, out, errOut := runExplain(t, tt.stdin, args...)
			if code != tt.wantCode {
				t.Fatalf("exit code %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tt.wantCode, out, errOut)
			}
			if tt.wantReason != "" {
				if want := "reason    " + tt.wantReason + "\n"; !strings.Contains(out, want) {
					t.Errorf("stdout has no %q line:\n%s", strings.TrimSpace(want), out)
				}
			} else if out != "" {
				t.Errorf("usage error printed on stdout:\n%s", out)
			}
			for _, w := range tt.wantOut {
				if !strings.Contains(out, w) {
					t.Errorf("stdout lacks %q:\n%s", w, out)
				}
			}
			if !strings.Contains(errOut, tt.wantErr) {
				t.Errorf("stderr lacks %q:\n%s", tt.wantErr, errOut)
			}
			if tt.wantCode != explainUsage && errOut != "" {
				t.Errorf("unexpected stderr:\n%s", errOut)
			}
		})
	}
}

func TestExplainConfigErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("routes:\n  - name: x\n    match: {path: nope}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"missing file", []string{"policy", "explain", "--config", filepath.Join(dir, "none.yaml"), "GET", "/"}, "no such file"},
		{"invalid config", []string{"policy", "explain", "--config", bad, "GET", "/"}, "routes[0]"},
		{"no subcommand", []string{"policy"}, "missing subcommand: explain"},
		{"unknown subcommand", []string{"policy", "simulate"}, `unknown subcommand "simulate" (want explain)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := runExplain(t, "", tt.args...)
			if code != explainUsage || out != "" || !strings.Contains(errOut, tt.wantErr) {
				t.Fatalf("exit %d, stdout %q, stderr:\n%s\nwant exit 2 and %q", code, out, errOut, tt.wantErr)
			}
		})
	}
	if code, out, _ := runExplain(t, "", "policy", "explain", "--help"); code != 0 || !strings.Contains(out, "Exit status: 0 allow, 1 deny") {
		t.Errorf("policy explain --help: exit %d\n%s", code, out)
	}
}

// TestExplainReadmeExample keeps the README's `policy explain` example
// true: the command it shows, run on config.example.yaml, prints exactly
// the lines it shows.
func TestExplainReadmeExample(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	const prompt = "$ erpgate policy explain "
	_, block, ok := strings.Cut(string(readme), "```console\n"+prompt)
	if !ok {
		t.Fatal("README has no ```console block starting with " + prompt)
	}
	block, _, _ = strings.Cut(block, "```")
	cmdLine, want, _ := strings.Cut(block, "\n")
	args := append([]string{"policy", "explain"}, strings.Fields(strings.ReplaceAll(cmdLine, "erpgate.yaml", "../../config.example.yaml"))...)
	_, got, errOut := runExplain(t, "", args...)
	if got != want {
		t.Errorf("README example is out of date; `erpgate %s` prints:\n%s%s\nREADME shows:\n%s", strings.Join(args, " "), got, errOut, want)
	}
}

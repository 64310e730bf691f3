package config

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestDecodeStrict(t *testing.T) {
	for _, tt := range []struct {
		name    string
		yaml    string
		wantErr string // Problems.Error(), exactly
	}{
		{
			name:    "unknown root key",
			yaml:    "listn: :8080\n",
			wantErr: `listn: unknown key (did you mean "listen"?)`,
		},
		{
			name:    "unknown nested key",
			yaml:    "store: {driver: sqlite, dns: x.db}\n",
			wantErr: `store.dns: unknown key (did you mean "dsn"?)`,
		},
		{
			name:    "unknown key in list element",
			yaml:    "apps:\n  - uri: a\n    secret_hash: " + hashSecret("x") + "\n  - uri: b\n    secrett: x\n    secret_hash: " + hashSecret("x") + "\n",
			wantErr: "apps[1].secrett: unknown key",
		},
		{
			name:    "unknown key deep",
			yaml:    "routes: [{name: r, match: {path: /x, method: [GET]}, upstream: 'http://u', public: true}]\n",
			wantErr: `routes[0].match.method: unknown key (did you mean "methods"?)`,
		},
		{
			name:    "keys are case sensitive",
			yaml:    "Listen: :8080\n",
			wantErr: `Listen: unknown key (did you mean "listen"?)`,
		},
		{
			name:    "duplicate key",
			yaml:    "listen: :8080\nlisten: :8081\n",
			wantErr: "listen: duplicate key",
		},
		{
			name:    "integer",
			yaml:    "license: {slots: abc}\n",
			wantErr: `license.slots: must be an integer, got "abc"`,
		},
		{
			name:    "integer not float",
			yaml:    "license: {slots: 1.5}\n",
			wantErr: `license.slots: must be an integer, got "1.5"`,
		},
		{
			name:    "duration with words",
			yaml:    "sessions:\n  idle_timeout: 20 minutes\n",
			wantErr: `sessions.idle_timeout: must be a duration such as 20m, 1h, 60s or 30d, got "20 minutes"`,
		},
		{
			name:    "duration without unit",
			yaml:    "routes: [{name: r, match: {path: /x}, upstream: 'http://u', public: true, timeout: 30}]\n",
			wantErr: `routes[0].timeout: must be a duration such as 20m, 1h, 60s or 30d, got "30"`,
		},
		{
			name:    "duration as list",
			yaml:    "tokens: {code_ttl: [1s]}\n",
			wantErr: "tokens.code_ttl: must be a duration such as 20m, got a list",
		},
		{
			name:    "YAML 1.1 boolean refused",
			yaml:    "log: {access_log: yes}\n",
			wantErr: `log.access_log: must be true or false, got "yes"`,
		},
		{
			name:    "pointer boolean",
			yaml:    "apps: [{uri: a, type: public, enabled: 0, redirect_uris: ['https://a/cb']}]\n",
			wantErr: `apps[0].enabled: must be true or false, got "0"`,
		},
		{
			name:    "list wanted",
			yaml:    "apps: com.example/a\n",
			wantErr: "apps: must be a list, got a scalar",
		},
		{
			name:    "string list wanted",
			yaml:    "trusted_proxies: 10.0.0.0/8\n",
			wantErr: "trusted_proxies: must be a list, got a scalar",
		},
		{
			name:    "mapping wanted",
			yaml:    "tls: [a, b]\n",
			wantErr: "tls: must be a mapping, got a list",
		},
		{
			name:    "string wanted",
			yaml:    "public_url: {host: x}\n",
			wantErr: "public_url: must be a string, got a mapping",
		},
		{
			name:    "list element type",
			yaml:    "tokens: {audiences: [A, [B]]}\n",
			wantErr: "tokens.audiences[1]: must be a string, got a list",
		},
		{
			name:    "non-string key",
			yaml:    "? [a]\n: b\n",
			wantErr: "mapping keys must be strings, got a list",
		},
		{
			name:    "root not a mapping",
			yaml:    "- a\n- b\n",
			wantErr: "must be a mapping, got a list",
		},
		{
			name:    "syntax error",
			yaml:    "listen: [\n",
			wantErr: "yaml: line 1: did not find expected node content",
		},
		{
			name:    "two documents",
			yaml:    "listen: :8080\n---\nlisten: :8081\n",
			wantErr: "the file holds more than one YAML document (---); expected one",
		},
		{
			name:    "invalid UTF-8",
			yaml:    "users: [{login: !!binary /w==, type: system}]\n",
			wantErr: "users[0].login: must be valid UTF-8 text",
		},
		{
			name:    "binary",
			yaml:    "users: [{login: !!binary YWxpY2U=, type: system}]\nlicense: {reserved: [alice]}\nstore: {dsn: !!binary '%%%'}\n",
			wantErr: "store.dsn: !!binary value must be base64",
		},
		{
			name:    "merge key with a scalar",
			yaml:    "tls: {<<: x}\n",
			wantErr: "tls: a merge key (<<) takes a mapping or a list of mappings",
		},
		{
			name:    "recursive merge",
			yaml:    "tls: &a {<<: *a}\n",
			wantErr: "tls: merge keys (<<) nest too deeply",
		},
		{
			name: "every problem at once",
			yaml: "listn: x\nlicense: {slots: x}\nlog: {access_log: x, levl: debug}\n",
			wantErr: strings.Join([]string{
				`listn: unknown key (did you mean "listen"?)`,
				`license.slots: must be an integer, got "x"`,
				`log.access_log: must be true or false, got "x"`,
				`log.levl: unknown key (did you mean "level"?)`,
			}, "\n"),
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Parse([]byte(tt.yaml), nil)
			if f != nil {
				t.Errorf("got a File with an error")
			}
			if got := problemsOf(t, err).Error(); got != tt.wantErr {
				t.Errorf("got:\n%s\nwant:\n%s", got, tt.wantErr)
			}
		})
	}
}

func TestDecodeAnchorsAndMerge(t *testing.T) {
	data := `
x-route: &route
  upstream: http://127.0.0.1:8081
  audience: DomainAPI
  timeout: 10s
x-methods: &ro [GET, HEAD]
routes:
  - <<: *route
    name: read
    match: {path_prefix: /api/, methods: *ro}
    scopes: [read]
  - <<: [{timeout: 5s, scopes: [sec]}, *route]
    name: admin
    match: {path_prefix: /admin/}
`
	// x-* keys are not part of the schema: anchors must live inside it.
	_, err := Parse([]byte(data), nil)
	if got := problemsOf(t, err).Error(); got != "x-route: unknown key\nx-methods: unknown key" {
		t.Fatalf("got %q", got)
	}

	// The same, with the anchors defined on the first route.
	data = `
routes:
  - &route
    name: read
    match: {path_prefix: /api/, methods: &ro [GET, HEAD]}
    upstream: http://127.0.0.1:8081
    audience: DomainAPI
    scopes: [read]
    timeout: 10s
  - <<: [{timeout: 5s, scopes: [sec]}, *route]
    name: admin
    match: {path_prefix: /admin/, methods: *ro}
`
	f, err := Parse([]byte(data), nil)
	if err != nil {
		t.Fatal(err)
	}
	a := f.Routes[1]
	if a.Name != "admin" || a.Upstream != "http://127.0.0.1:8081" || a.Timeout.D().String() != "5s" ||
		len(a.Scopes) != 1 || a.Scopes[0] != "sec" || a.Match.PathPrefix != "/admin/" || len(a.Match.Methods) != 2 {
		t.Errorf("merged route = %+v", a)
	}

	// Problems inside an alias are reported at each path it is used.
	data = `
routes:
  - &r {name: a, match: {path: /a}, upstream: "http://u", public: true, bogus: 1}
  - *r
`
	_, err = Parse([]byte(data), nil)
	want := "routes[0].bogus: unknown key\nroutes[1].bogus: unknown key\nroutes[1].name: duplicate route name \"a\" (also routes[0])"
	if got := problemsOf(t, err).Error(); got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
}

func TestDecodeAliasBomb(t *testing.T) {
	// "Billion laughs" through merge keys: each level merges the one before
	// ten times, so a naive walk does 10^12 steps.
	var b strings.Builder
	b.WriteString("apps:\n  - &a0 {uri: x, name: y, scope: read}\n")
	for i := 1; i <= 12; i++ {
		b.WriteString(fmt.Sprintf("  - &a%d {<<: [%s*a%d]}\n", i, strings.Repeat(fmt.Sprintf("*a%d, ", i-1), 9), i-1))
	}
	// The decoder must refuse the expansion, not perform it: the check is
	// the error, and a generous guard against a hang (a naive walk never
	// ends), not a timing assertion.
	done := make(chan error, 1)
	go func() { _, err := Parse([]byte(b.String()), nil); done <- err }()
	var err error
	select {
	case err = <-done:
	case <-time.After(time.Minute):
		t.Fatal("Parse did not return: the aliases were expanded")
	}
	ps := problemsOf(t, err)
	if ps[0].Message != "the document is too large or expands too many aliases" {
		t.Errorf("first problem = %v", ps[0])
	}
}

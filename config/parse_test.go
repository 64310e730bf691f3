package config

import (
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

// Values the test configurations use.
const (
	testPHC = "$argon2id$v=19$m=65536,t=3,p=4$c2FsdC1hZG1pbi1wYXNzdw$C+Jn44BoMobRG8yAi1E8Lq7549sj9o+XxW2xd72ouq0"
	testKey = "AAcOFRwjKjE4P0ZNVFtiaXB3foWMk5qhqK+2vcTL0tk=" // 32 bytes
)

var fullEnv = map[string]string{
	"ERPGATE_GATEWAY_SECRET": "gateway-secret",
	"ERPGATE_COOKIE_KEY":     testKey,
	"SYNC_SECRET_HASH":       hashSecret("sync-secret"),
}

func hashSecret(s string) string {
	sum := sha256.Sum256([]byte(s))
	return base64.StdEncoding.EncodeToString(sum[:])
}

func envOf(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := m[k]
		return v, ok
	}
}

// expandTest replaces the placeholders test YAML uses for long values.
var expandTest = strings.NewReplacer(
	"<phc>", testPHC,
	"<key>", testKey,
	"<hash>", hashSecret("s3cret"),
).Replace

func parseFull(t *testing.T) *File {
	t.Helper()
	data, err := os.ReadFile("testdata/full.yaml")
	if err != nil {
		t.Fatal(err)
	}
	f, err := Parse(data, envOf(fullEnv))
	if err != nil {
		t.Fatalf("Parse(testdata/full.yaml):\n%v", err)
	}
	return f
}

func problemsOf(t *testing.T, err error) Problems {
	t.Helper()
	var ps Problems
	if !errors.As(err, &ps) {
		t.Fatalf("error %v (%T) is not Problems", err, err)
	}
	if len(ps) == 0 {
		t.Fatal("empty Problems returned as an error")
	}
	return ps
}

func TestParseFull(t *testing.T) {
	f := parseFull(t)

	if got, want := f.PublicURL, "https://gateway.example.com"; got != want {
		t.Errorf("PublicURL = %q, want %q (trailing slash removed)", got, want)
	}
	if got, want := f.Issuer(), "https://gateway.example.com/id"; got != want {
		t.Errorf("Issuer() = %q, want %q", got, want)
	}
	if f.Gateway.ClientSecret != "gateway-secret" {
		t.Errorf("gateway.client_secret not expanded: %q", f.Gateway.ClientSecret)
	}
	keys, err := f.Gateway.DecodedCookieKeys()
	if err != nil || len(keys) != 2 || len(keys[0]) != 32 || string(keys[0]) != string(keys[1]) {
		t.Errorf("DecodedCookieKeys() = %d keys, %v; want the same 32 bytes twice (std and raw url base64)", len(keys), err)
	}
	if !f.Gateway.Enabled() || f.TLS.Enabled() {
		t.Errorf("Gateway.Enabled() = %v, TLS.Enabled() = %v; want true, false", f.Gateway.Enabled(), f.TLS.Enabled())
	}
	if got := f.Users[0].PasswordHash; got != testPHC {
		t.Errorf("argon2id hash changed by expansion: %q", got)
	}

	sync := f.FindApp("com.example/nightly-sync")
	if sync == nil {
		t.Fatal("FindApp(com.example/nightly-sync) = nil")
	}
	if sync.SecretHash != fullEnv["SYNC_SECRET_HASH"] || sync.PKCERequired() || !sync.IsEnabled() {
		t.Errorf("nightly-sync: secret %q, PKCERequired %v, IsEnabled %v", sync.SecretHash, sync.PKCERequired(), sync.IsEnabled())
	}
	if got := sync.Scopes(); !slices.Equal(got, []string{"read", "update"}) {
		t.Errorf("Scopes() = %q", got)
	}
	gw := f.FindApp("erpgate")
	if !gw.InternalUsersAllowed() || !gw.CommunityUsersAllowed() {
		t.Errorf("erpgate app: internal %v, community %v; want both", gw.InternalUsersAllowed(), gw.CommunityUsersAllowed())
	}
	spa := f.FindApp("com.example/spa")
	if !spa.IsPublic() || !spa.PKCERequired() || spa.CommunityUsersAllowed() {
		t.Errorf("spa: public %v, PKCE %v, community %v", spa.IsPublic(), spa.PKCERequired(), spa.CommunityUsersAllowed())
	}
	if f.FindApp("nope") != nil || f.FindUser("nope") != nil || f.FindUser("svc-sync").Type != UserSystem {
		t.Error("FindApp/FindUser")
	}
	if got := f.Routes[1].Timeout.D(); got != 2*time.Minute {
		t.Errorf("routes[1].timeout = %v", got)
	}
	if w := f.Warnings(); len(w) != 0 {
		t.Errorf("Warnings() = %v, want none", w)
	}
	if got := f.Instance.DatabaseName(); got != "E1_TESTDB" {
		t.Errorf("Instance.DatabaseName() = %q, want E1_TESTDB", got)
	}
	_, users, err := f.Directory()
	if err != nil {
		t.Fatal(err)
	}
	if a := users[1]; a.Login != "alice" || !a.EmailVerified || a.Locale != "bg-BG" || a.ClaimType() != "InternalUser" {
		t.Errorf("alice's record = %+v; want email verified, locale bg-BG, claim type InternalUser", a)
	}
	if b := users[2]; b.Login != "bob" || b.EmailVerified || b.Locale != "" || b.ClaimType() != "ExternalCommunityUser" {
		t.Errorf("bob's record = %+v; want email not verified, no locale, claim type ExternalCommunityUser", b)
	}
}

func TestParseDefaults(t *testing.T) {
	for _, tt := range []struct {
		name string
		yaml string
	}{
		{"empty file", ""},
		{"comments only", "# nothing yet\n"},
		{"empty document", "---\n"},
		{"null sections", "tls:\nstore: ~\ntokens:\nsessions: null\nlog: {}\n"},
		{"empty strings", `{public_url: "", listen: "", store: {driver: ""}, signing: {algorithm: ""}, log: {level: "", format: "", audit: ""}}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Parse([]byte(tt.yaml), nil)
			if err != nil {
				t.Fatal(err)
			}
			want := File{
				PublicURL:   "http://localhost:8080",
				Listen:      "127.0.0.1:8080",
				AdminListen: "127.0.0.1:9090",
				Store:       Store{Driver: "sqlite", DSN: "data/erpgate.db", Timeout: Duration(2 * time.Second)},
				Signing:     Signing{Algorithm: "RS256", RotateEvery: Duration(720 * time.Hour)},
				Tokens: Tokens{
					AccessTokenTTL:        Duration(time.Hour),
					RefreshTokenTTL:       Duration(720 * time.Hour),
					PublicRefreshTokenTTL: Duration(24 * time.Hour),
					CodeTTL:               Duration(60 * time.Second),
					Audiences:             []string{"DomainAPI", "TableAPI"},
					RefreshReuseGrace:     Duration(2 * time.Second),
					ScopeFormat:           "array",
				},
				Sessions: Sessions{IdleTimeout: Duration(20 * time.Minute), ServiceMaxLifetime: Duration(time.Hour)},
				Limits: Limits{TokenRequestsPerSecond: 50, TokenBurst: 100, LoginFailuresPerAccountAddress: 5,
					LoginFailuresPerAddress: 50, LoginFailureWindow: Duration(15 * time.Minute),
					LoginDelayAfter: 10, LoginDelayBase: Duration(250 * time.Millisecond), LoginDelayMax: Duration(4 * time.Second),
					ClientAuthFailuresPerClientAddress: 10, ClientAuthFailuresPerAddress: 30, ClientAuthFailuresPerClient: 100,
					ClientAuthFailureWindow: Duration(15 * time.Minute), FormReadTimeout: Duration(5 * time.Second)},
				Log: Log{Level: "info", Format: "json", Audit: "stderr"},
			}
			if got, wantS := marshal(t, f), marshal(t, &want); got != wantS {
				t.Errorf("defaults:\n%s\nwant:\n%s", got, wantS)
			}
		})
	}
}

func TestParseDefaultsPerItem(t *testing.T) {
	f, err := Parse([]byte(expandTest(`
users: [{login: u, password_hash: "<phc>"}]
apps:
  - {uri: c, secret_hash: "<hash>"}
  - {uri: p, type: public, redirect_uris: ["https://app.example/cb"]}
routes: [{name: r, match: {path: /x}, upstream: "http://127.0.0.1:1", audience: DomainAPI, scopes: [read]}]
`)), nil)
	if err != nil {
		t.Fatal(err)
	}
	if u := f.Users[0]; u.Type != UserInternal || u.EmailVerified || u.Locale != "" {
		t.Errorf("users[0] defaults: type %q, email_verified %v, locale %q", u.Type, u.EmailVerified, u.Locale)
	}
	if f.Instance.Database != nil || f.Instance.DatabaseName() != "" {
		t.Errorf("instance.database omitted: %v", f.Instance.Database)
	}
	for i, a := range f.Apps {
		if a.AllowInternalUsers == nil || !*a.AllowInternalUsers ||
			a.AllowCommunityUsers == nil || *a.AllowCommunityUsers ||
			a.RequirePKCE == nil || !*a.RequirePKCE ||
			a.Enabled == nil || !*a.Enabled ||
			a.ReferenceTokens != ReferenceTokensNone {
			t.Errorf("apps[%d] defaults not applied: %+v", i, a)
		}
	}
	if f.Apps[0].Type != AppConfidential {
		t.Errorf("apps[0].type = %q", f.Apps[0].Type)
	}
	if r := f.Routes[0]; r.OnMissingToken != OnMissingTokenUnauthorized || r.Timeout.D() != 30*time.Second {
		t.Errorf("routes[0] defaults: on_missing_token %q, timeout %v", r.OnMissingToken, r.Timeout)
	}
}

func TestParseExplicitZero(t *testing.T) {
	// Durations default only when omitted: an explicit 0s is kept where it
	// is allowed, and reported where it is not.
	f, err := Parse([]byte("tokens: {refresh_reuse_grace: 0s}\nlicense: {slots: 0}\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if f.Tokens.RefreshReuseGrace != 0 || f.License.Slots != 0 {
		t.Errorf("refresh_reuse_grace = %v, slots = %d; want 0s, 0", f.Tokens.RefreshReuseGrace, f.License.Slots)
	}
	_, err = Parse([]byte("sessions: {idle_timeout: 0s}\n"), nil)
	if got := problemsOf(t, err).Error(); got != "sessions.idle_timeout: must be positive" {
		t.Errorf("got %q", got)
	}
}

func TestParseNilLookup(t *testing.T) {
	_, err := Parse([]byte(`store: {driver: postgres, dsn: "${DSN}"}`), nil)
	if got := problemsOf(t, err).Error(); got != "store.dsn: environment variable DSN is not set" {
		t.Errorf("got %q", got)
	}
}

func TestParseMultipleProblems(t *testing.T) {
	// Decode and validation problems come together, in document order,
	// whatever the order in which they were found.
	data := expandTest(`public_url: ftp://example.com
tokens:
  acess_token_ttl: 1h
  code_ttl: 5m
license: {slots: abc}
apps:
  - uri: com.example/a
    secrett: x
    redirect_uris: ["http://example.com/cb"]
  - uri: com.example/a
    type: public
    secret_hash: "<hash>"
routes:
  - name: Bad Name
    match: {path_prefix: api}
    upstream: http://127.0.0.1:8081
    scopes: [read, write]
sessions: {idle_timeout: 20 minutes}
`)
	_, err := Parse([]byte(data), nil)
	want := strings.Join([]string{
		`public_url: must be an absolute http or https URL, such as https://gateway.example.com`,
		`tokens.acess_token_ttl: unknown key (did you mean "access_token_ttl"?)`,
		`tokens.code_ttl: must be between 1s and 1m`,
		`license.slots: must be an integer, got "abc"`,
		`apps[0].secrett: unknown key`,
		`apps[0].redirect_uris[0]: must be an absolute https URL, or http on loopback`,
		`apps[0].secret_hash: required for confidential apps; see ` + "`erpgate hash-secret`",
		`apps[1].uri: duplicate app uri "com.example/a" (also apps[0])`,
		`apps[1].secret_hash: not allowed for public apps`,
		`routes[0].name: must use only a-z, 0-9, - and _`,
		`routes[0].match.path_prefix: must start with "/"`,
		`routes[0].scopes[1]: must be one of read, update, sec; got "write"`,
		`routes[0].audience: required unless the route is public`,
		`sessions.idle_timeout: must be a duration such as 20m, 1h, 60s or 30d, got "20 minutes"`,
	}, "\n")
	if got := problemsOf(t, err).Error(); got != want {
		t.Errorf("got:\n%s\n\nwant:\n%s", got, want)
	}
}

func TestEnvExpansion(t *testing.T) {
	env := envOf(map[string]string{
		"SECRET": `p@ss: "word" # not a comment` + "\n{[,]}",
		"EMPTY":  "",
		"A":      "a",
		"LOOP":   "${A}",
		"SLOTS":  "7",
	})
	for _, tt := range []struct {
		name    string
		value   string // YAML for gateway.client_secret
		want    string
		wantErr string // Problems.Error()
	}{
		{name: "whole value", value: "${A}", want: "a"},
		{name: "within text", value: "x-${A}-${A}-y", want: "x-a-a-y"},
		{name: "YAML-special characters stay data", value: "${SECRET}", want: `p@ss: "word" # not a comment` + "\n{[,]}"},
		{name: "set but empty", value: "x${EMPTY}y", want: "xy"},
		{name: "quoted", value: `"${A}"`, want: "a"},
		{name: "not expanded twice", value: "${LOOP}", want: "${A}"},
		{name: "escape", value: "$${A}", want: "${A}"},
		{name: "escape then reference", value: "$${A}${A}", want: "${A}a"},
		{name: "other dollars untouched", value: "$A $$ $ a$b {A} $argon2id$v=19$", want: "$A $$ $ a$b {A} $argon2id$v=19$"},
		{name: "argon2id hash", value: testPHC, want: testPHC},
		{name: "unset", value: "${ERPGATE_X}", wantErr: "gateway.client_secret: environment variable ERPGATE_X is not set"},
		{name: "every unset variable", value: "${B}${A}${C}", wantErr: "gateway.client_secret: environment variable B is not set\ngateway.client_secret: environment variable C is not set"},
		{name: "malformed name", value: "${A-B}", wantErr: "gateway.client_secret: malformed environment reference: write ${NAME} with NAME matching [A-Za-z_][A-Za-z0-9_]*, or $${ for a literal ${"},
		{name: "empty name", value: "x${}", wantErr: "gateway.client_secret: malformed environment reference: write ${NAME} with NAME matching [A-Za-z_][A-Za-z0-9_]*, or $${ for a literal ${"},
		{name: "digit first", value: "${1A}", wantErr: "gateway.client_secret: malformed environment reference: write ${NAME} with NAME matching [A-Za-z_][A-Za-z0-9_]*, or $${ for a literal ${"},
		{name: "unterminated", value: "${A", wantErr: "gateway.client_secret: ${ without a closing }: write ${NAME}, or $${ for a literal ${"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Parse([]byte("gateway:\n  client_secret: "+tt.value+"\n"), env)
			if tt.wantErr != "" {
				if got := problemsOf(t, err).Error(); got != tt.wantErr {
					t.Errorf("got %q\nwant %q", got, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if f.Gateway.ClientSecret != tt.want {
				t.Errorf("got %q, want %q", f.Gateway.ClientSecret, tt.want)
			}
		})
	}

	t.Run("every scalar type", func(t *testing.T) {
		f, err := Parse([]byte("license: {slots: '${SLOTS}'}\ntokens: {code_ttl: '${SLOTS}s'}\nlog: {access_log: 'tru${EMPTY}e'}\n"), env)
		if err != nil {
			t.Fatal(err)
		}
		if f.License.Slots != 7 || f.Tokens.CodeTTL.D() != 7*time.Second || !f.Log.AccessLog {
			t.Errorf("slots %d, code_ttl %v, access_log %v", f.License.Slots, f.Tokens.CodeTTL, f.Log.AccessLog)
		}
	})
	t.Run("environment values are not echoed", func(t *testing.T) {
		_, err := Parse([]byte("license: {slots: '${A}'}\n"), env)
		if got := problemsOf(t, err).Error(); got != "license.slots: must be an integer" {
			t.Errorf("got %q", got)
		}
	})
	t.Run("keys are not expanded", func(t *testing.T) {
		_, err := Parse([]byte("${A}: x\n"), env)
		if got := problemsOf(t, err).Error(); got != "${A}: unknown key" {
			t.Errorf("got %q", got)
		}
	})
}

package config

import (
	"strings"
	"testing"
)

func TestWarnings(t *testing.T) {
	const tail = `, upstream: "http://u", audience: DomainAPI, scopes: [read]}`
	for _, tt := range []struct {
		name string
		yaml string
		want []Problem
	}{
		{
			name: "nothing to say",
			yaml: `routes: [{name: a, match: {path: /a}` + tail + `]`,
		},
		{
			name: "no routes",
			yaml: "",
			want: []Problem{{"routes", "no routes: every proxied request gets 404"}},
		},
		{
			name: "paths the gateway serves itself",
			yaml: `public_url: https://gw.example.com
routes: [{name: a, match: {path_prefix: /.well-known/oauth-protected-resource/api}` + tail + `, {name: b, match: {path: /id/connect/token}` + tail + `, {name: c, match: {path_prefix: /idx}` + tail + `, {name: d, match: {path: /.well-known/oauth-authorization-server}` + tail + `]`,
			want: []Problem{
				{"routes[0].match", "never matches: the gateway serves /.well-known/oauth-protected-resource itself"},
				{"routes[1].match", "never matches: the gateway serves /id itself"},
				{"routes[3].match", "never matches: the gateway serves /.well-known/oauth-authorization-server itself"},
			},
		},
		{
			name: "same path twice",
			yaml: `routes: [{name: a, match: {path: /a}` + tail + `, {name: b, match: {path: /a}` + tail + `]`,
			want: []Problem{{"routes[1].match", `never matches: routes[0] ("a") comes first and matches every request this route would`}},
		},
		{
			name: "prefix shadows path",
			yaml: `routes: [{name: a, match: {path_prefix: /api/}` + tail + `, {name: b, match: {path: /api/x}` + tail + `]`,
			want: []Problem{{"routes[1].match", `never matches: routes[0] ("a")`}},
		},
		{
			name: "prefix shadows longer prefix",
			yaml: `routes: [{name: a, match: {path_prefix: /api}` + tail + `, {name: b, match: {path_prefix: /api/domain/}` + tail + `]`,
			want: []Problem{{"routes[1].match", `never matches: routes[0] ("a")`}},
		},
		{
			name: "prefix on a segment boundary only",
			yaml: `routes: [{name: a, match: {path_prefix: /api}` + tail + `, {name: b, match: {path_prefix: /apis/}` + tail + `, {name: c, match: {path: /apix}` + tail + `]`,
		},
		{
			name: "slash prefix does not match the bare path",
			yaml: `routes: [{name: a, match: {path_prefix: /api/}` + tail + `, {name: b, match: {path: /api}` + tail + `, {name: c, match: {path_prefix: /api}` + tail + `]`,
		},
		{
			name: "methods superset shadows",
			yaml: `routes: [{name: a, match: {path_prefix: /x/, methods: [GET, HEAD, POST]}` + tail + `, {name: b, match: {path: /x/y, methods: [POST, GET]}` + tail + `]`,
			want: []Problem{{"routes[1].match", `never matches: routes[0] ("a")`}},
		},
		{
			name: "all methods shadow some",
			yaml: `routes: [{name: a, match: {path: /x}` + tail + `, {name: b, match: {path: /x, methods: [GET]}` + tail + `]`,
			want: []Problem{{"routes[1].match", `never matches: routes[0] ("a")`}},
		},
		{
			name: "narrower methods do not shadow",
			yaml: `routes: [{name: a, match: {path_prefix: /api/, methods: [GET, HEAD]}` + tail + `, {name: b, match: {path_prefix: /api/}` + tail + `, {name: c, match: {path: /api/x, methods: [PUT]}` + tail + `]`,
			want: []Problem{{"routes[2].match", `never matches: routes[1] ("b")`}},
		},
		{
			name: "later route does not shadow earlier",
			yaml: `routes: [{name: a, match: {path: /api/x}` + tail + `, {name: b, match: {path_prefix: /api/}` + tail + `]`,
		},
		{
			name: "route without scopes",
			yaml: `routes: [{name: a, match: {path: /a}, upstream: "http://u", audience: TableAPI}]`,
			want: []Problem{{"routes[0].scopes", `no scopes required: any valid token for audience "TableAPI" is accepted`}},
		},
		{
			name: "public route needs no scopes",
			yaml: `routes: [{name: a, match: {path: /a}, upstream: "http://u", public: true}]`,
		},
		{
			name: "plain http on the network",
			yaml: "public_url: http://gateway.example.com\nroutes: [{name: a, match: {path: /a}" + tail + "]",
			want: []Problem{{"public_url", "plain http on a non-loopback host: passwords, tokens and cookies cross the network unencrypted"}},
		},
		{
			name: "tls with http public_url",
			yaml: "public_url: http://127.0.0.1:8080\ntls: {cert_file: c, key_file: k}\nroutes: [{name: a, match: {path: /a}" + tail + "]",
			want: []Problem{{"public_url", "tls is configured but public_url uses http"}},
		},
		{
			name: "memory store",
			yaml: "store: {driver: memory}\nroutes: [{name: a, match: {path: /a}" + tail + "]",
			want: []Problem{{"store.driver", "the memory store loses keys, sessions and tokens on restart; use it for tests only"}},
		},
		{
			name: "public app without redirect URIs",
			yaml: "apps: [{uri: a, type: public}]\nroutes: [{name: a, match: {path: /a}" + tail + "]",
			want: []Problem{{"apps[0].redirect_uris", "a public app without redirect URIs cannot obtain tokens"}},
		},
		{
			name: "gateway app without the callback",
			yaml: expandTest(`public_url: https://gw.example/base/
gateway: {client_id: gw, client_secret: s3cret, cookie_keys: ["<key>"]}
apps: [{uri: gw, secret_hash: "<hash>", redirect_uris: ["https://gw.example/oauth2/callback"]}]
routes: [{name: a, match: {path: /a}` + tail + `]`),
			want: []Problem{{"apps[0].redirect_uris", "the gateway's app does not list https://gw.example/base/oauth2/callback; browser login at the proxy will fail"}},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Parse([]byte(tt.yaml), nil)
			if err != nil {
				t.Fatal(err)
			}
			got := f.Warnings()
			if len(got) != len(tt.want) {
				t.Fatalf("Warnings() = %q\nwant %q", got, tt.want)
			}
			for i, w := range tt.want {
				if got[i].Path != w.Path || !strings.Contains(got[i].Message, w.Message) {
					t.Errorf("warning %d = %q, want %q", i, got[i], w)
				}
			}
		})
	}
}

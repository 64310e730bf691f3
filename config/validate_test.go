package config

import (
	"strings"
	"testing"
)

// TestValidate checks each rule: the configuration is valid but for one
// thing, and the problems must be exactly the ones listed, each at its
// path, with a message containing the given text. <phc>, <key> and <hash>
// stand for a valid argon2id hash, cookie key and secret hash (of
// "s3cret").
func TestValidate(t *testing.T) {
	type want struct{ path, msg string }
	const (
		route   = `{name: r, match: {path: /x}, upstream: "http://127.0.0.1:1", audience: DomainAPI, scopes: [read]`
		gwApp   = `{uri: gw, secret_hash: "<hash>", redirect_uris: ["https://gw.example/oauth2/callback"]`
		gateway = `gateway: {client_id: gw, client_secret: s3cret, cookie_keys: ["<key>"]}` + "\n"
	)
	for _, tt := range []struct {
		name string
		yaml string
		want []want
	}{
		// public_url
		{"public_url not absolute", "public_url: gateway.example.com", []want{{"public_url", "must be an absolute http or https URL"}}},
		{"public_url scheme", "public_url: ftp://gateway.example.com", []want{{"public_url", "must be an absolute http or https URL"}}},
		{"public_url query", "public_url: https://gw.example/?a=1", []want{{"public_url", "must not have a query"}}},
		{"public_url fragment", `public_url: "https://gw.example/#f"`, []want{{"public_url", "must not have a fragment"}}},
		{"public_url userinfo", "public_url: https://u:p@gw.example", []want{{"public_url", "must not contain user information"}}},
		{"public_url whitespace", `public_url: "https://gw.example/a b"`, []want{{"public_url", "must not contain whitespace"}}},

		// listeners
		{"listen without port", "listen: 127.0.0.1", []want{{"listen", "must be host:port"}}},
		{"listen port only", "listen: 8080", []want{{"listen", "must be host:port"}}},
		{"admin_listen port range", "admin_listen: 127.0.0.1:70000", []want{{"admin_listen", "port must be a number from 0 to 65535"}}},
		{"admin_listen named port", "admin_listen: 127.0.0.1:http", []want{{"admin_listen", "port must be a number"}}},
		{"same address twice", "listen: 127.0.0.1:9090", []want{{"admin_listen", "must differ from listen"}}},

		// tls
		{"tls cert without key", "tls: {cert_file: c.pem}", []want{{"tls.key_file", "required when tls.cert_file is set"}}},
		{"tls key without cert", "tls: {key_file: k.pem}", []want{{"tls.cert_file", "required when tls.key_file is set"}}},

		// store
		{"store driver", "store: {driver: mysql}", []want{{"store.driver", `must be one of sqlite, postgres, memory; got "mysql"`}}},
		{"postgres without dsn", "store: {driver: postgres}", []want{{"store.dsn", "required for the postgres driver"}}},
		{"memory with dsn", "store: {driver: memory, dsn: x.db}", []want{{"store.dsn", "must be empty for the memory driver"}}},
		{"store timeout zero", "store: {timeout: 0s}", []want{{"store.timeout", "must be between 10ms and 1m"}}},
		{"store timeout long", "store: {timeout: 5m}", []want{{"store.timeout", "must be between 10ms and 1m"}}},

		// signing
		{"signing algorithm", "signing: {algorithm: HS256}", []want{{"signing.algorithm", "must be one of RS256, ES256, EdDSA"}}},
		{"signing rotate_every", "signing: {rotate_every: 30m}", []want{{"signing.rotate_every", "must be at least 1h"}}},

		// limits
		{"token rate negative", "limits: {token_requests_per_second: -1}", []want{{"limits.token_requests_per_second", "must not be negative"}}},
		{"token burst zero", "limits: {token_burst: 0}", []want{{"limits.token_burst", "must be at least 1"}}},
		{"login failures per account and address zero", "limits: {login_failures_per_account_address: 0}", []want{{"limits.login_failures_per_account_address", "must be at least 1"}}},
		{"login failures per address zero", "limits: {login_failures_per_address: 0}", []want{{"limits.login_failures_per_address", "must be at least 1"}}},
		{"login failure window zero", "limits: {login_failure_window: 0s}", []want{{"limits.login_failure_window", "must be positive"}}},
		{"login delay after zero", "limits: {login_delay_after: 0}", []want{{"limits.login_delay_after", "must be at least 1"}}},
		{"login delay base zero", "limits: {login_delay_base: 0s}", []want{{"limits.login_delay_base", "must be positive"}}},
		{"login delay max under base", "limits: {login_delay_base: 2s, login_delay_max: 1s}", []want{{"limits.login_delay_max", "must be between 2s and 30s"}}},
		{"login delay max a lockout", "limits: {login_delay_max: 15m}", []want{{"limits.login_delay_max", "must be between 250ms and 30s"}}},

		// tokens
		{"access_token_ttl zero", "tokens: {access_token_ttl: 0s}", []want{{"tokens.access_token_ttl", "must be positive"}}},
		{"refresh_token_ttl negative", "tokens: {refresh_token_ttl: -1h}", []want{{"tokens.refresh_token_ttl", "must be positive"}}},
		{"public_refresh_token_ttl zero", "tokens: {public_refresh_token_ttl: 0s}", []want{{"tokens.public_refresh_token_ttl", "must be positive"}}},
		{"code_ttl too long", "tokens: {code_ttl: 5m}", []want{{"tokens.code_ttl", "must be between 1s and 1m"}}},
		{"code_ttl too short", "tokens: {code_ttl: 500ms}", []want{{"tokens.code_ttl", "must be between 1s and 1m"}}},
		{"refresh_reuse_grace too long", "tokens: {refresh_reuse_grace: 2m}", []want{{"tokens.refresh_reuse_grace", "must be between 0s and 1m"}}},
		{"refresh_reuse_grace negative", "tokens: {refresh_reuse_grace: -1s}", []want{{"tokens.refresh_reuse_grace", "must be between 0s and 1m"}}},
		{"audiences empty", "tokens: {audiences: []}", []want{{"tokens.audiences", "must list at least one audience"}}},
		{"audience empty string", `tokens: {audiences: [A, ""]}`, []want{{"tokens.audiences[1]", "must not be empty"}}},
		{"audience whitespace", `tokens: {audiences: ["Domain API"]}`, []want{{"tokens.audiences[0]", "must not contain whitespace"}}},
		{"audience duplicate", "tokens: {audiences: [A, B, A]}", []want{{"tokens.audiences[2]", `duplicate audience "A"`}}},
		{"scope_format", "tokens: {scope_format: json}", []want{{"tokens.scope_format", "must be one of array, string"}}},

		// sessions
		{"idle_timeout zero", "sessions: {idle_timeout: 0s}", []want{{"sessions.idle_timeout", "must be positive"}}},
		{"service_max_lifetime negative", "sessions: {service_max_lifetime: -1m}", []want{{"sessions.service_max_lifetime", "must be positive"}}},

		// users
		{"login missing", "users: [{type: system}]", []want{{"users[0].login", "required"}}},
		{"login whitespace", "users: [{login: a b, type: system}]", []want{{"users[0].login", "must not contain whitespace"}}},
		{"login duplicate", "users: [{login: a, type: system}, {login: b, type: system}, {login: a, type: system}]", []want{{"users[2].login", `duplicate login "a" (also users[0])`}}},
		{"user type", "users: [{login: a, type: admin}]", []want{{"users[0].type", "must be one of internal, community, system"}}},
		{"password required", "users: [{login: a}]", []want{{"users[0].password_hash", "required for internal users"}}},
		{"password required community", "users: [{login: a, type: community}]", []want{{"users[0].password_hash", "required for community users"}}},
		{"password not PHC", "users: [{login: a, password_hash: hunter2}]", []want{{"users[0].password_hash", "must be an argon2id PHC string"}}},
		{"password bcrypt", `users: [{login: a, password_hash: "$2y$10$abcdefghijklmnopqrstuv"}]`, []want{{"users[0].password_hash", "must be an argon2id PHC string"}}},
		{"password argon2i", `users: [{login: a, password_hash: "$argon2i$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA"}]`, []want{{"users[0].password_hash", "must be an argon2id PHC string"}}},
		{"password version", `users: [{login: a, password_hash: "$argon2id$v=16$m=65536,t=3,p=4$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA"}]`, []want{{"users[0].password_hash", "version 19"}}},
		{"password params order", `users: [{login: a, password_hash: "$argon2id$v=19$t=3,m=65536,p=4$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA"}]`, []want{{"users[0].password_hash", "must be an argon2id PHC string"}}},
		{"password params range", `users: [{login: a, password_hash: "$argon2id$v=19$m=65536,t=0,p=4$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA"}]`, []want{{"users[0].password_hash", "out of range"}}},
		{"password salt", `users: [{login: a, password_hash: "$argon2id$v=19$m=65536,t=3,p=4$!!$aGFzaGhhc2hoYXNoaGFzaA"}]`, []want{{"users[0].password_hash", "salt of at least 8 bytes"}}},
		{"password short hash", `users: [{login: a, password_hash: "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$aGFzaA"}]`, []want{{"users[0].password_hash", "hash of at least 16 bytes"}}},
		{"email", `users: [{login: a, type: system, email: "Alice <a@example.com>"}]`, []want{{"users[0].email", "must be a bare email address"}}},
		{"email not an address", `users: [{login: a, type: system, email: alice}]`, []want{{"users[0].email", "must be a bare email address"}}},
		{"email_verified without email", `users: [{login: a, type: system, email_verified: true}]`, []want{{"users[0].email_verified", "must not be true without an email"}}},
		{"email_verified not a bool", `users: [{login: a, type: system, email: a@example.com, email_verified: yes please}]`, []want{{"users[0].email_verified", "must be"}}},
		{"locale underscore", `users: [{login: a, type: system, locale: bg_BG}]`, []want{{"users[0].locale", `must be a BCP 47 language tag, subtags separated by "-": bg-BG`}}},
		{"locale one letter", `users: [{login: a, type: system, locale: b}]`, []want{{"users[0].locale", "must be a BCP 47 language tag such as bg-BG or en"}}},
		{"locale four letters", `users: [{login: a, type: system, locale: engl}]`, []want{{"users[0].locale", "must be a BCP 47 language tag"}}},
		{"locale digits first", `users: [{login: a, type: system, locale: 12-BG}]`, []want{{"users[0].locale", "must be a BCP 47 language tag"}}},
		{"locale empty subtag", `users: [{login: a, type: system, locale: bg--BG}]`, []want{{"users[0].locale", "must be a BCP 47 language tag"}}},
		{"locale trailing dash", `users: [{login: a, type: system, locale: bg-}]`, []want{{"users[0].locale", "must be a BCP 47 language tag"}}},
		{"locale subtag too long", `users: [{login: a, type: system, locale: en-abcdefghi}]`, []want{{"users[0].locale", "must be a BCP 47 language tag"}}},
		{"locale bad region", `users: [{login: a, type: system, locale: en-B}]`, []want{{"users[0].locale", "must be a BCP 47 language tag"}}},
		{"locale extension without subtag", `users: [{login: a, type: system, locale: en-u}]`, []want{{"users[0].locale", "must be a BCP 47 language tag"}}},
		{"locale private use empty", `users: [{login: a, type: system, locale: en-x}]`, []want{{"users[0].locale", "must be a BCP 47 language tag"}}},
		{"locale only private use", `users: [{login: a, type: system, locale: x-klingon}]`, []want{{"users[0].locale", "must be a BCP 47 language tag"}}},
		{"locale whitespace", `users: [{login: a, type: system, locale: "bg BG"}]`, []want{{"users[0].locale", "must be a BCP 47 language tag"}}},
		{"locale second user", `users: [{login: a, type: system, locale: bg-BG}, {login: b, type: system, locale: "en-"}]`, []want{{"users[1].locale", "must be a BCP 47 language tag"}}},

		// instance
		{"instance database empty", `instance: {database: ""}`, []want{{"instance.database", "must not be empty"}}},
		{"instance database whitespace", `instance: {database: "E1 TESTDB"}`, []want{{"instance.database", "must not contain whitespace or control characters"}}},
		{"instance database tab", `instance: {database: "E1_TESTDB\t"}`, []want{{"instance.database", "must not contain whitespace or control characters"}}},
		{"instance database unset variable", `instance: {database: "${ERP_DB}"}`, []want{{"instance.database", "ERP_DB"}}},
		{"instance database not a string", `instance: {database: [E1]}`, []want{{"instance.database", "must be"}}},
		{"instance unknown key", `instance: {db: E1_TESTDB}`, []want{{"instance.db", "unknown"}}},

		// apps
		{"app uri missing", `apps: [{secret_hash: "<hash>"}]`, []want{{"apps[0].uri", "required"}}},
		{"app uri whitespace", `apps: [{uri: "a b", secret_hash: "<hash>"}]`, []want{{"apps[0].uri", "must not contain whitespace"}}},
		{"app uri duplicate", `apps: [{uri: a, secret_hash: "<hash>"}, {uri: a, secret_hash: "<hash>"}]`, []want{{"apps[1].uri", `duplicate app uri "a" (also apps[0])`}}},
		{"app type", `apps: [{uri: a, type: spa}]`, []want{{"apps[0].type", "must be one of confidential, public"}}},
		{"confidential without secret", `apps: [{uri: a}]`, []want{{"apps[0].secret_hash", "required for confidential apps"}}},
		{"secret_hash not a digest", `apps: [{uri: a, secret_hash: c2VjcmV0}]`, []want{{"apps[0].secret_hash", "must be base64 of a SHA-256 digest"}}},
		{"secret_hash url alphabet", `apps: [{uri: a, secret_hash: "Hguq5QpuIAbYlPnmTFOhMX5gMvS6Z98IGZ1TeMWUjOY"}]`, []want{{"apps[0].secret_hash", "must be base64 of a SHA-256 digest"}}},
		{"public with secret", `apps: [{uri: a, type: public, secret_hash: "<hash>", redirect_uris: ["https://a/cb"]}]`, []want{{"apps[0].secret_hash", "not allowed for public apps"}}},
		{"public with system user", `users: [{login: svc, type: system}]` + "\n" + `apps: [{uri: a, type: public, system_user: svc, redirect_uris: ["https://a/cb"]}]`, []want{{"apps[0].system_user", "only confidential apps may have a system user"}}},
		{"system user unknown", `apps: [{uri: a, secret_hash: "<hash>", system_user: svc}]`, []want{{"apps[0].system_user", `no user "svc" under users`}}},
		{"system user not system", `users: [{login: alice, password_hash: "<phc>"}]` + "\n" + `apps: [{uri: a, secret_hash: "<hash>", system_user: alice}]`, []want{{"apps[0].system_user", `users[0] ("alice") has type internal; a system_user must have type system`}}},
		{"scope unknown", `apps: [{uri: a, secret_hash: "<hash>", scope: read write}]`, []want{{"apps[0].scope", `unknown scope "write"; allowed: read, update, sec, openid, profile, offline_access`}}},
		{"scope duplicate", `apps: [{uri: a, secret_hash: "<hash>", scope: read openid read}]`, []want{{"apps[0].scope", `duplicate scope "read"`}}},
		{"reference_tokens", `apps: [{uri: a, secret_hash: "<hash>", reference_tokens: all}]`, []want{{"apps[0].reference_tokens", "must be one of none, authenticated_users, administrators_only"}}},
		{"public without PKCE", `apps: [{uri: a, type: public, require_pkce: false, redirect_uris: ["https://a/cb"]}]`, []want{{"apps[0].require_pkce", "public apps must use PKCE"}}},

		// redirect URIs (SPEC §2's example path)
		{"redirect http not loopback", `apps: [{uri: a, secret_hash: "<hash>"}, {uri: b, secret_hash: "<hash>"}, {uri: c, secret_hash: "<hash>", redirect_uris: ["http://example.com/cb"]}]`,
			[]want{{"apps[2].redirect_uris[0]", "must be an absolute https URL, or http on loopback"}}},
		{"redirect relative", `apps: [{uri: a, secret_hash: "<hash>", redirect_uris: [/cb]}]`, []want{{"apps[0].redirect_uris[0]", "must be an absolute https URL, or http on loopback"}}},
		{"redirect custom scheme", `apps: [{uri: a, secret_hash: "<hash>", redirect_uris: ["com.example.app:/cb"]}]`, []want{{"apps[0].redirect_uris[0]", "must be an absolute https URL, or http on loopback"}}},
		{"redirect loopback lookalike", `apps: [{uri: a, secret_hash: "<hash>", redirect_uris: ["http://127.0.0.1.example.com/cb"]}]`, []want{{"apps[0].redirect_uris[0]", "must be an absolute https URL, or http on loopback"}}},
		{"redirect fragment", `apps: [{uri: a, secret_hash: "<hash>", redirect_uris: ["https://a/cb#x"]}]`, []want{{"apps[0].redirect_uris[0]", "must not contain a fragment"}}},
		{"redirect empty fragment", `apps: [{uri: a, secret_hash: "<hash>", redirect_uris: ["https://a/cb#"]}]`, []want{{"apps[0].redirect_uris[0]", "must not contain a fragment"}}},
		{"redirect wildcard", `apps: [{uri: a, secret_hash: "<hash>", redirect_uris: ["https://*.example.com/cb"]}]`, []want{{"apps[0].redirect_uris[0]", "must not contain a wildcard"}}},
		{"redirect wildcard path", `apps: [{uri: a, secret_hash: "<hash>", redirect_uris: ["https://a/*"]}]`, []want{{"apps[0].redirect_uris[0]", "must not contain a wildcard"}}},
		{"redirect userinfo", `apps: [{uri: a, secret_hash: "<hash>", redirect_uris: ["https://u:p@a/cb"]}]`, []want{{"apps[0].redirect_uris[0]", "must not contain user information"}}},
		{"redirect whitespace", `apps: [{uri: a, secret_hash: "<hash>", redirect_uris: ["https://a/c b"]}]`, []want{{"apps[0].redirect_uris[0]", "must not contain whitespace"}}},
		{"redirect duplicate", `apps: [{uri: a, secret_hash: "<hash>", redirect_uris: ["https://a/cb", "https://a/cb"]}]`, []want{{"apps[0].redirect_uris[1]", "duplicate (also apps[0].redirect_uris[0])"}}},
		{"post-logout redirect", `apps: [{uri: a, secret_hash: "<hash>", post_logout_redirect_uris: ["https://a/", "http://a/"]}]`, []want{{"apps[0].post_logout_redirect_uris[1]", "must be an absolute https URL, or http on loopback"}}},

		// gateway
		{"gateway app unknown", `gateway: {client_id: gw, client_secret: s3cret, cookie_keys: ["<key>"]}`, []want{{"gateway.client_id", `no app with uri "gw" under apps`}}},
		{"gateway app public", gateway + `apps: [{uri: gw, type: public, redirect_uris: ["https://a/cb"]}]`, []want{{"gateway.client_id", "apps[0] is a public app; the gateway's app must be confidential"}}},
		{"gateway app disabled", gateway + `apps: [` + gwApp + `, enabled: false}]`, []want{{"gateway.client_id", "apps[0] is disabled"}}},
		{"gateway app without redirect", gateway + `apps: [{uri: gw, secret_hash: "<hash>"}]`, []want{{"gateway.client_id", "apps[0] has no redirect_uris; add http://localhost:8080/oauth2/callback"}}},
		{"gateway secret missing", `gateway: {client_id: gw, cookie_keys: ["<key>"]}` + "\napps: [" + gwApp + "}]", []want{{"gateway.client_secret", "required when gateway.client_id is set"}}},
		{"gateway secret mismatch", `gateway: {client_id: gw, client_secret: wrong, cookie_keys: ["<key>"]}` + "\napps: [" + gwApp + "}]", []want{{"gateway.client_secret", "does not match apps[0].secret_hash"}}},
		{"gateway cookie keys missing", `gateway: {client_id: gw, client_secret: s3cret}` + "\napps: [" + gwApp + "}]", []want{{"gateway.cookie_keys", "at least one key is required"}}},
		{"cookie key length", `gateway: {cookie_keys: ["<key>", c2VjcmV0]}`, []want{{"gateway.cookie_keys[1]", "must be base64 of exactly 32 bytes"}}},
		{"cookie key not base64", `gateway: {cookie_keys: ["not base64!"]}`, []want{{"gateway.cookie_keys[0]", "must be base64 of exactly 32 bytes"}}},
		{"cookie key duplicate", `gateway: {cookie_keys: ["<key>", "<key>"]}`, []want{{"gateway.cookie_keys[1]", "duplicate (also gateway.cookie_keys[0])"}}},

		// license
		{"slots negative", "license: {slots: -1}", []want{{"license.slots", "must not be negative"}}},
		{"reserved unknown", "license: {reserved: [admin]}", []want{{"license.reserved[0]", `no user "admin" under users`}}},
		{"reserved duplicate", "users: [{login: svc, type: system}]\nlicense: {reserved: [svc, svc]}", []want{{"license.reserved[1]", "duplicate (also license.reserved[0])"}}},
		{"reserved more than slots", "users: [{login: a, type: system}, {login: b, type: system}]\nlicense: {slots: 1, reserved: [a, b]}", []want{{"license.reserved", "reserves 2 slots but license.slots is 1"}}},

		// routes
		{"upstream_token without exchange", `routes: [` + route + `, upstream_token: {}}]`, []want{{"routes[0].upstream_token.exchange", "required"}}},
		{"exchange audience missing", `routes: [` + route + `, upstream_token: {exchange: {scopes: [read]}}}]`, []want{{"routes[0].upstream_token.exchange.audience", "required"}}},
		{"exchange audience of every token", `routes: [` + route + `, upstream_token: {exchange: {audience: TableAPI, scopes: [read]}}}]`, []want{{"routes[0].upstream_token.exchange.audience", "must not be one of tokens.audiences"}}},
		{"exchange audience of a route", "tokens: {audiences: [DomainAPI, Up]}\nroutes: [" + route + `, upstream_token: {exchange: {audience: Up, scopes: [read]}}}, {name: r2, match: {path: /y}, upstream: "http://u", audience: Up}]`, []want{
			{"routes[0].upstream_token.exchange.audience", "every route takes one"}}},
		{"exchange audience whitespace", `routes: [` + route + `, upstream_token: {exchange: {audience: "up stream", scopes: [read]}}}]`, []want{{"routes[0].upstream_token.exchange.audience", "must not contain whitespace"}}},
		{"exchange scopes missing", `routes: [` + route + `, upstream_token: {exchange: {audience: up}}}]`, []want{{"routes[0].upstream_token.exchange.scopes", "at least one scope is required"}}},
		{"exchange scope unknown", `routes: [` + route + `, upstream_token: {exchange: {audience: up, scopes: [read, openid]}}}]`, []want{{"routes[0].upstream_token.exchange.scopes[1]", "must be one of read, update, sec"}}},
		{"exchange scope duplicate", `routes: [` + route + `, upstream_token: {exchange: {audience: up, scopes: [read, read]}}}]`, []want{{"routes[0].upstream_token.exchange.scopes[1]", `duplicate scope "read"`}}},
		{"require_auth empty", `routes: [` + route + `, require_auth: {}}]`, []want{{"routes[0].require_auth", "set acr, max_age or both"}}},
		{"require_auth acr unknown", `routes: [` + route + `, require_auth: {acr: otp}}]`, []want{{"routes[0].require_auth.acr", `must be one of pwd, mfa; got "otp"`}}},
		{"require_auth max_age short", `routes: [` + route + `, require_auth: {max_age: 500ms}}]`, []want{{"routes[0].require_auth.max_age", "must be at least 1s"}}},
		{"require_auth max_age fraction", `routes: [` + route + `, require_auth: {acr: mfa, max_age: 1500ms}}]`, []want{{"routes[0].require_auth.max_age", "must be a whole number of seconds"}}},
		{"require_auth max_age negative", `routes: [` + route + `, require_auth: {max_age: -1m}}]`, []want{{"routes[0].require_auth.max_age", "must be at least 1s"}}},
		{"require_auth on a public route", `routes: [{name: p, match: {path: /p}, upstream: "http://u", public: true, require_auth: {acr: mfa}}]`, []want{{"routes[0].require_auth", "not allowed on a public route"}}},
		{"exchange with strip_authorization", `routes: [` + route + `, strip_authorization: true, upstream_token: {exchange: {audience: up, scopes: [read]}}}]`, []want{{"routes[0].upstream_token", "not allowed together with strip_authorization"}}},
		{"exchange on a public route", `routes: [{name: r, match: {path: /x}, upstream: "http://u", public: true, upstream_token: {exchange: {audience: up, scopes: [read]}}}]`, []want{{"routes[0].upstream_token", "not allowed on a public route"}}},
		{"exchange unknown key", `routes: [` + route + `, upstream_token: {exchange: {audience: up, scopes: [read], ttl: 1h}}}]`, []want{{"routes[0].upstream_token.exchange.ttl", "unknown"}}},
		{"route name missing", `routes: [{match: {path: /x}, upstream: "http://u", public: true}]`, []want{{"routes[0].name", "required"}}},
		{"route name characters", `routes: [{name: Read.All, match: {path: /x}, upstream: "http://u", public: true}]`, []want{{"routes[0].name", "must use only a-z, 0-9, - and _"}}},
		{"route name duplicate", `routes: [` + route + `}, {name: r, match: {path: /y}, upstream: "http://u", public: true}]`, []want{{"routes[1].name", `duplicate route name "r" (also routes[0])`}}},
		{"match neither", `routes: [{name: r, match: {methods: [GET]}, upstream: "http://u", public: true}]`, []want{{"routes[0].match", "set one of path and path_prefix"}}},
		{"match missing", `routes: [{name: r, upstream: "http://u", public: true}]`, []want{{"routes[0].match", "set one of path and path_prefix"}}},
		{"match both", `routes: [{name: r, match: {path: /x, path_prefix: /x/}, upstream: "http://u", public: true}]`, []want{{"routes[0].match", "set only one of path and path_prefix"}}},
		{"path relative", `routes: [{name: r, match: {path: x}, upstream: "http://u", public: true}]`, []want{{"routes[0].match.path", `must start with "/"`}}},
		{"path_prefix dot-dot", `routes: [{name: r, match: {path_prefix: /a/../b/}, upstream: "http://u", public: true}]`, []want{{"routes[0].match.path_prefix", "must be a clean path (no //, . or .. segments): /b"}}},
		{"path double slash", `routes: [{name: r, match: {path: //x}, upstream: "http://u", public: true}]`, []want{{"routes[0].match.path", "must be a clean path"}}},
		{"path query", `routes: [{name: r, match: {path: "/x?y=1"}, upstream: "http://u", public: true}]`, []want{{"routes[0].match.path", "without query or fragment"}}},
		{"path backslash", `routes: [{name: r, match: {path: '/x\y'}, upstream: "http://u", public: true}]`, []want{{"routes[0].match.path", "must not contain a backslash"}}},
		{"method lowercase", `routes: [{name: r, match: {path: /x, methods: [GET, post]}, upstream: "http://u", public: true}]`, []want{{"routes[0].match.methods[1]", "must be uppercase: POST"}}},
		{"method unknown", `routes: [{name: r, match: {path: /x, methods: [FETCH]}, upstream: "http://u", public: true}]`, []want{{"routes[0].match.methods[0]", "must be one of GET, HEAD, POST"}}},
		{"method duplicate", `routes: [{name: r, match: {path: /x, methods: [GET, GET]}, upstream: "http://u", public: true}]`, []want{{"routes[0].match.methods[1]", "duplicate method GET"}}},
		{"upstream missing", `routes: [{name: r, match: {path: /x}, public: true}]`, []want{{"routes[0].upstream", "required"}}},
		{"upstream relative", `routes: [{name: r, match: {path: /x}, upstream: 127.0.0.1:8081, public: true}]`, []want{{"routes[0].upstream", "must be an absolute http or https URL"}}},
		{"upstream scheme", `routes: [{name: r, match: {path: /x}, upstream: "ws://u", public: true}]`, []want{{"routes[0].upstream", "must be an absolute http or https URL"}}},
		{"upstream query", `routes: [{name: r, match: {path: /x}, upstream: "http://u/?a=b", public: true}]`, []want{{"routes[0].upstream", "must not have a query"}}},
		{"upstream fragment", `routes: [{name: r, match: {path: /x}, upstream: "http://u/#a", public: true}]`, []want{{"routes[0].upstream", "must not have a fragment"}}},
		{"upstream userinfo", `routes: [{name: r, match: {path: /x}, upstream: "http://a:b@u", public: true}]`, []want{{"routes[0].upstream", "must not contain user information"}}},
		{"audience missing", `routes: [{name: r, match: {path: /x}, upstream: "http://u", scopes: [read]}]`, []want{{"routes[0].audience", "required unless the route is public"}}},
		{"audience unknown", `routes: [{name: r, match: {path: /x}, upstream: "http://u", audience: OtherAPI, scopes: [read]}]`, []want{{"routes[0].audience", `must be one of tokens.audiences (DomainAPI, TableAPI); got "OtherAPI"`}}},
		{"public with audience", `routes: [{name: r, match: {path: /x}, upstream: "http://u", public: true, audience: DomainAPI}]`, []want{{"routes[0].audience", "not allowed on a public route"}}},
		{"public with scopes", `routes: [{name: r, match: {path: /x}, upstream: "http://u", public: true, scopes: [read]}]`, []want{{"routes[0].scopes", "not allowed on a public route"}}},
		{"public with login", `routes: [{name: r, match: {path: /x}, upstream: "http://u", public: true, on_missing_token: login}]`, []want{{"routes[0].on_missing_token", "login is not allowed on a public route"}}},
		{"scope unknown", `routes: [{name: r, match: {path: /x}, upstream: "http://u", audience: DomainAPI, scopes: [read, openid]}]`, []want{{"routes[0].scopes[1]", `must be one of read, update, sec; got "openid"`}}},
		{"scope duplicate", `routes: [{name: r, match: {path: /x}, upstream: "http://u", audience: DomainAPI, scopes: [read, read]}]`, []want{{"routes[0].scopes[1]", `duplicate scope "read"`}}},
		{"on_missing_token", `routes: [` + route + `, on_missing_token: redirect}]`, []want{{"routes[0].on_missing_token", "must be one of unauthorized, login"}}},
		{"login without gateway", `routes: [` + route + `, on_missing_token: login}]`, []want{{"routes[0].on_missing_token", "set gateway.client_id"}}},
		{"timeout zero", `routes: [` + route + `, timeout: 0s}]`, []want{{"routes[0].timeout", "must be positive"}}},
		{"client idle timeout zero", `routes: [` + route + `, client_idle_timeout: 0s}]`, []want{{"routes[0].client_idle_timeout", "must be positive"}}},

		// trusted_proxies
		{"trusted proxy not an IP", `trusted_proxies: [10.0.0.1, proxy.example.com]`, []want{{"trusted_proxies[1]", "must be an IP address or a CIDR prefix"}}},
		{"trusted proxy bad prefix", `trusted_proxies: [10.0.0.0/33]`, []want{{"trusted_proxies[0]", "must be an IP address or a CIDR prefix"}}},
		{"trusted proxy host bits", `trusted_proxies: [10.1.2.3/8]`, []want{{"trusted_proxies[0]", "has host bits set; write 10.0.0.0/8"}}},
		{"trusted proxy duplicate", `trusted_proxies: ["::1", "::1"]`, []want{{"trusted_proxies[1]", "duplicate (also trusted_proxies[0])"}}},

		// allowed_hosts
		{"allowed host URL", `allowed_hosts: ["https://gw.example.com"]`, []want{{"allowed_hosts[0]", "must be a host name or IP address with an optional port"}}},
		{"allowed host path", `allowed_hosts: [gw.example.com/x]`, []want{{"allowed_hosts[0]", "must be a host name or IP address with an optional port"}}},
		{"allowed host wildcard", `allowed_hosts: ["*.example.com"]`, []want{{"allowed_hosts[0]", "is not a valid host name"}}},
		{"allowed host port", `allowed_hosts: ["gw.example.com:99999"]`, []want{{"allowed_hosts[0]", "must be a number from 1 to 65535"}}},
		{"allowed host duplicate", `allowed_hosts: [GW.example.com, gw.example.com.]`, []want{{"allowed_hosts[1]", "duplicate (also allowed_hosts[0])"}}},

		// log
		{"log level", "log: {level: trace}", []want{{"log.level", "must be one of debug, info, warn, error"}}},
		{"log format", "log: {format: logfmt}", []want{{"log.format", "must be one of json, text"}}},
		{"log audit", `log: {audit: "a\nb"}`, []want{{"log.audit", "must be stderr, stdout or the path of a file"}}},
		{"log audit a directory", `log: {audit: /var/log/}`, []want{{"log.audit", "must be stderr, stdout or the path of a file"}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Parse([]byte(expandTest(tt.yaml)), nil)
			if err == nil {
				t.Fatalf("no problem; want %v", tt.want)
			}
			if f != nil {
				t.Error("got a File with an error")
			}
			ps := problemsOf(t, err)
			if len(ps) != len(tt.want) {
				t.Fatalf("got %d problems, want %d:\n%v", len(ps), len(tt.want), err)
			}
			for i, w := range tt.want {
				if ps[i].Path != w.path || !strings.Contains(ps[i].Message, w.msg) {
					t.Errorf("problem %d = %q\nwant path %q, message containing %q", i, ps[i], w.path, w.msg)
				}
			}
		})
	}
}

// TestValidateAccepts lists edge cases that are valid.
func TestValidateAccepts(t *testing.T) {
	for _, tt := range []struct {
		name string
		yaml string
	}{
		{"public_url with path", "public_url: https://example.com/gateway/"},
		{"listen on every interface", "listen: :8080"},
		{"listen IPv6", "listen: '[::1]:8080'"},
		{"random ports", "listen: 127.0.0.1:0\nadmin_listen: 127.0.0.1:0"},
		{"system user without password", "users: [{login: svc, type: system}]"},
		{"locales", `users: [{login: a, type: system, locale: bg-BG}, {login: b, type: system, locale: en}, {login: c, type: system, locale: zh-Hant-TW},
  {login: d, type: system, locale: es-419}, {login: e, type: system, locale: sl-rozaj-biske}, {login: f, type: system, locale: de-CH-1996},
  {login: g, type: system, locale: en-US-u-ca-gregory}, {login: h, type: system, locale: en-x-erp}, {login: i, type: system, locale: zh-yue-HK},
  {login: j, type: system, locale: BG-bg}]`},
		{"email verified", `users: [{login: a, type: system, email: a@example.com, email_verified: true}]`},
		{"email not verified", `users: [{login: a, type: system, email: a@example.com, email_verified: false}]`},
		{"instance database", `instance: {database: E1_TESTDB}`},
		{"instance database from the environment", `instance: {database: "${ERP_DB}"}`},
		{"instance without database", `instance: {}`},
		{"loopback redirects", `apps: [{uri: a, type: public, redirect_uris: ["http://127.0.0.1:1234/cb", "http://[::1]/cb", "http://localhost:8080/cb?x=1", "https://a.example/cb?x=1"]}]`},
		{"confidential without PKCE", `apps: [{uri: a, secret_hash: "<hash>", require_pkce: false}]`},
		{"reserved within slots", "users: [{login: a, type: system}]\nlicense: {slots: 1, reserved: [a]}"},
		{"reserved, unlimited slots", "users: [{login: a, type: system}, {login: b, type: system}]\nlicense: {reserved: [a, b]}"},
		{"url-safe cookie key", `gateway: {cookie_keys: ["AAcOFRwjKjE4P0ZNVFtiaXB3foWMk5qhqK-2vcTL0tk"]}`},
		{"prefix without slash", `routes: [{name: r, match: {path_prefix: /api}, upstream: "https://u:8443/base/", public: true}]`},
		{"root prefix", `routes: [{name: r, match: {path_prefix: /}, upstream: "http://u", public: true}]`},
		{"custom audiences", `tokens: {audiences: [Orders]}` + "\n" + `routes: [{name: r, match: {path: /x}, upstream: "http://u", audience: Orders}]`},
		{"memory store", "store: {driver: memory}"},
		{"postgres", `store: {driver: postgres, dsn: "postgres://erpgate@db/erpgate"}`},
		{"audit file", "log: {audit: /var/log/erpgate/audit.log}"},
		{"trusted proxies", `trusted_proxies: [10.0.0.0/8, "fe80::/10", 192.168.0.1, "::1"]`},
		{"allowed hosts", `allowed_hosts: [gw.internal, "10.0.0.5:8080", "[2001:db8::5]:8443", "2001:db8::6", erp_backend]`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Parse([]byte(expandTest(tt.yaml)), envOf(map[string]string{"ERP_DB": "E1_PROD"})); err != nil {
				t.Error(err)
			}
		})
	}
}

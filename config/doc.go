// Package config is erpgate's configuration file (SPEC §2): its schema,
// strict decoding, defaults and validation.
//
// The package works on bytes and an injected environment lookup; reading
// the file and the process environment is left to cmd/erpgate:
//
//	f, err := config.Parse(data, os.LookupEnv)
//	var problems config.Problems
//	if errors.As(err, &problems) {
//		// one "path: message" per problem, e.g.
//		// apps[2].redirect_uris[0]: must be an absolute https URL, or http on loopback
//	}
//	for _, w := range f.Warnings() { ... }
//
// The doc comments on File and the types it holds are the reference for
// every key: what it means, what it accepts and its default.
//
// # Strictness
//
// Parse reports every problem in one pass, each with its YAML path: syntax
// errors, unknown keys ("apps[0].secrett: unknown key"), duplicate keys,
// values of the wrong type ("license.slots: must be an integer"), and
// every rule in validate.go. It returns a File only when there is none.
// Anchors, aliases and merge keys (<<) are allowed. Booleans are true or
// false (YAML 1.2; not yes/no). Durations are time.ParseDuration strings
// with a unit: 60s, 20m, 1h, 720h.
//
// # Environment expansion
//
// In every scalar value (never in keys), ${NAME} is replaced by the
// environment variable NAME, where NAME matches [A-Za-z_][A-Za-z0-9_]*. The
// value is inserted after YAML parsing, so a secret containing ':', '#',
// quotes or newlines needs no quoting, and it is not expanded again. An
// unset variable is a problem at the value's path ("environment variable
// ERPGATE_X is not set"); a variable set to the empty string is used as
// the empty string.
//
// Only "${" is special: any other '$' is literal, so argon2id hashes
// ($argon2id$v=19$m=65536,t=3,p=4$...) are written as they are. To write a
// literal "${", use "$${". A "${" that does not form a valid ${NAME} is a
// problem, so a typo is not mistaken for text.
//
// YAML itself ends a plain scalar at '{' or '}' inside a flow collection,
// so there a reference must be quoted: cookie_keys: ["${ERPGATE_COOKIE_KEY}"]
// (a block list item, "- ${ERPGATE_COOKIE_KEY}", needs no quotes).
//
// # Defaults
//
// Parse fills in defaults (documented per field) before validating, so a
// File from Parse is complete: every duration, enumeration and App boolean
// pointer is set. String keys take their default when empty or omitted;
// duration and list keys only when omitted or null, because an explicit
// zero can be meant (tokens.refresh_reuse_grace: 0s) or is a mistake worth
// reporting (an empty tokens.audiences). Marshalling the File back to YAML
// gives the normalised configuration, which Parse reads back to the same
// File (unless a value holds a literal "${", which would need its $${
// escape again).
package config

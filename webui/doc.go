// Package webui is the page kit: one layout, one stylesheet and one set
// of message catalogs for every page a person sees — the identity
// server's sign-in, consent, sign-out and account pages, the gateway's
// browser sign-in pages and the proxy's answers to browsers (errors,
// license exhausted).
//
// Each package keeps its own page templates next to its handlers and
// parses them with Parse, which adds the shared layout; a Kit, built from
// the operator's branding (config ui:), renders them in the language the
// request asks for: the ui_locales parameter (OIDC Core §3.1.2.1), then
// the user's own locale, then Accept-Language (RFC 9110 §12.5.4).
//
// Every text comes from a catalog (messages/*.json, English, Bulgarian
// and German); catalog_test.go fails when a key is missing in any of
// them or a template or Go call names a key none has.
package webui

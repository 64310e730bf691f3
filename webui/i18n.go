package webui

import (
	"embed"
	"encoding/json"
	"fmt"
	"html/template"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"
)

//go:embed messages/*.json
var catalogFS embed.FS

// Shipped are the languages with a catalog, English first: it is the
// fallback of every other.
var Shipped = []string{"en", "bg", "de"}

// catalogs maps a language to its messages, loaded once.
var catalogs = loadCatalogs()

func loadCatalogs() map[string]map[string]string {
	out := map[string]map[string]string{}
	for _, tag := range Shipped {
		b, err := catalogFS.ReadFile(path.Join("messages", tag+".json"))
		if err != nil {
			panic("webui: catalog " + tag + ": " + err.Error())
		}
		m := map[string]string{}
		if err := json.Unmarshal(b, &m); err != nil {
			panic("webui: catalog " + tag + ": " + err.Error())
		}
		out[tag] = m
	}
	return out
}

// Text is a message to show: a catalog key and the values its %s (or
// %d) verbs take. Handlers hand Texts to templates, so what a person
// reads is chosen by the page's language, not by the handler.
type Text struct {
	Key  string
	Args []any
}

// Msg is the Text of key with args.
func Msg(key string, args ...any) Text { return Text{Key: key, Args: args} }

// IsZero reports whether t says nothing.
func (t Text) IsZero() bool { return t.Key == "" }

// Lang is one language's catalog, chosen for a request.
type Lang struct {
	Tag string // BCP 47 primary tag: en, bg, de
	m   map[string]string
}

// Language returns the catalog of tag (a shipped language), English
// otherwise.
func Language(tag string) *Lang {
	if m, ok := catalogs[tag]; ok {
		return &Lang{Tag: tag, m: m}
	}
	return &Lang{Tag: "en", m: catalogs["en"]}
}

// message is key's text, falling back to English; a key no catalog has
// shows as itself (catalog_test.go keeps that from shipping).
func (l *Lang) message(key string) string {
	if s, ok := l.m[key]; ok {
		return s
	}
	if s, ok := catalogs["en"][key]; ok {
		return s
	}
	return key
}

// T is key's text with args put in.
func (l *Lang) T(key string, args ...any) string {
	s := l.message(key)
	if len(args) == 0 {
		return s
	}
	return fmt.Sprintf(s, args...)
}

// Say is t in this language.
func (l *Lang) Say(t Text) string { return l.T(t.Key, t.Args...) }

// TH is key's text as HTML: the catalog's own markup (ours, embedded)
// is kept and every arg is escaped.
func (l *Lang) TH(key string, args ...any) template.HTML {
	esc := make([]any, len(args))
	for i, a := range args {
		esc[i] = template.HTMLEscapeString(fmt.Sprint(a))
	}
	return template.HTML(fmt.Sprintf(l.message(key), esc...)) //nolint:gosec // catalog markup is ours; args are escaped
}

// Count says n of a unit ("3 minutes"): key + ".one" when n is 1, else
// key + ".other" — the plural forms of English, Bulgarian and German.
func (l *Lang) Count(key string, n int) string {
	form := ".other"
	if n == 1 {
		form = ".one"
	}
	return l.T(key+form, n)
}

// Wait says a wait of secs seconds as a person would: seconds under two
// minutes, whole minutes (rounded up) from there.
func (l *Lang) Wait(secs int) string {
	if secs >= 120 {
		return l.Count("time.minutes", (secs+59)/60)
	}
	return l.Count("time.seconds", max(secs, 1))
}

// Time is t as this language writes a date and time (UTC, minutes).
func (l *Lang) Time(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(l.message("format.datetime"))
}

// Negotiate picks the language of a page from the languages offered
// (a subset of Shipped, in the operator's order): the first match of
// uiLocales (OIDC Core §3.1.2.1, space-separated, in order of
// preference), then the user's own locale (the locale claim), then the
// Accept-Language header by quality (RFC 9110 §12.5.4), then the first
// offered. Tags match on their primary subtag: bg-BG is bg.
func Negotiate(offered []string, uiLocales, userLocale, acceptLanguage string) string {
	if len(offered) == 0 {
		offered = Shipped
	}
	pick := func(tag string) string {
		primary, _, _ := strings.Cut(strings.ToLower(strings.TrimSpace(tag)), "-")
		if slices.Contains(offered, primary) {
			return primary
		}
		return ""
	}
	for _, tag := range strings.Fields(uiLocales) {
		if p := pick(tag); p != "" {
			return p
		}
	}
	if p := pick(userLocale); p != "" {
		return p
	}
	for _, tag := range acceptedLanguages(acceptLanguage) {
		if p := pick(tag); p != "" {
			return p
		}
	}
	return offered[0]
}

// acceptedLanguages lists an Accept-Language header's tags by falling
// quality, dropping q=0 and "*"; equal qualities keep their order.
func acceptedLanguages(h string) []string {
	type tagQ struct {
		tag string
		q   float64
	}
	var tags []tagQ
	for i, part := range strings.Split(h, ",") {
		if i >= 32 { // a header is not a workload
			break
		}
		tag, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		q := 1.0
		if v, ok := strings.CutPrefix(strings.TrimSpace(params), "q="); ok {
			if f, err := strconv.ParseFloat(v, 64); err == nil {
				q = f
			}
		}
		if tag == "" || tag == "*" || q <= 0 {
			continue
		}
		tags = append(tags, tagQ{tag, q})
	}
	slices.SortStableFunc(tags, func(a, b tagQ) int {
		switch {
		case a.q > b.q:
			return -1
		case a.q < b.q:
			return 1
		}
		return 0
	})
	out := make([]string, len(tags))
	for i, t := range tags {
		out[i] = t.tag
	}
	return out
}

// Scope says in words what granting scope name lets an app do (the
// consent and tokens pages); an app's own scope without a catalog entry
// is named as it is.
func (l *Lang) Scope(name string) string {
	if _, ok := catalogs["en"]["scope."+name]; ok {
		return l.T("scope." + name)
	}
	return l.T("scope.other", name)
}

package browserlogin

import (
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"
)

// maxReturnURL bounds the return URL kept in the transaction cookie.
const maxReturnURL = 2048

// safeReturnURL returns s when it is a same-origin path (with optional
// query) to send the browser back to after login, and "/" otherwise (SPEC
// §4: "The post-login return URL is same-origin only").
//
// Accepted: a path starting with exactly one "/". Refused: anything with a
// scheme or host ("https://evil.com", "//evil.com"), backslashes (browsers
// read "/\evil.com" as "//evil.com"), control characters and whitespace
// (browsers drop tabs and newlines from URLs, so "/\t/evil.com" is
// "//evil.com"), fragments, and any of those once percent-decoded, however
// many times ("/%2F%2Fevil.com", "/%252F%252Fevil.com"), since some layer
// between here and the browser may decode. Paths under /oauth2/ are
// refused too: coming back to sign_out or callback makes no sense.
func safeReturnURL(s string) string {
	if !isSafeReturnURL(s) {
		return "/"
	}
	return s
}

func isSafeReturnURL(s string) bool {
	if s == "" || len(s) > maxReturnURL {
		return false
	}
	// Check every form, decoding until stable (a bounded number of times).
	cur := s
	for round := 0; ; round++ {
		if !safePathForm(cur) {
			return false
		}
		next, err := url.PathUnescape(cur)
		if err != nil {
			if round == 0 {
				return false // malformed escapes
			}
			break // a decoded form holding a literal "%"
		}
		if next == cur {
			break
		}
		if round == 3 {
			return false // encoded more often than anyone would
		}
		cur = next
	}
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" {
		return false
	}
	return strings.HasPrefix(u.Path, "/")
}

// safePathForm checks one (possibly still encoded) form of the URL.
func safePathForm(s string) bool {
	if len(s) == 0 || s[0] != '/' {
		return false
	}
	if len(s) > 1 && (s[1] == '/' || s[1] == '\\') {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x21 || c == 0x7f || c == '\\' || c == '#' {
			return false
		}
	}
	if !utf8.ValidString(s) || strings.ContainsFunc(s, invisible) {
		return false
	}
	p, _, _ := strings.Cut(s, "?")
	return p != strings.TrimSuffix(PathPrefix, "/") && !strings.HasPrefix(p, PathPrefix)
}

// invisible: control, format and space characters beyond ASCII, which
// browsers may strip or show as nothing (U+0085, U+00A0, U+200B, U+2028…).
func invisible(r rune) bool {
	return unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || unicode.IsSpace(r)
}

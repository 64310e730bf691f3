package signing

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/go-jose/go-jose/v4"
)

func TestParseType(t *testing.T) {
	hdr := func(h string) string { return base64.RawURLEncoding.EncodeToString([]byte(h)) + ".e30.c2ln" }
	rs256 := []jose.SignatureAlgorithm{jose.RS256}
	for _, tc := range []struct {
		name, jws, want string
		ok              bool
	}{
		{"access token", hdr(`{"alg":"RS256","typ":"at+jwt"}`), TypeAccessToken, true},
		{"media type form", hdr(`{"alg":"RS256","typ":"application/at+jwt"}`), TypeAccessToken, true},
		{"case-insensitive", hdr(`{"alg":"RS256","typ":"AT+JWT"}`), TypeAccessToken, true},
		{"id token as access token", hdr(`{"alg":"RS256","typ":"JWT"}`), TypeAccessToken, false},
		{"access token as id token", hdr(`{"alg":"RS256","typ":"at+jwt"}`), TypeIDToken, false},
		{"no typ", hdr(`{"alg":"RS256"}`), TypeAccessToken, false},
		{"typ not a string", hdr(`{"alg":"RS256","typ":1}`), TypeAccessToken, false},
		{"alg not allowed", hdr(`{"alg":"HS256","typ":"at+jwt"}`), TypeAccessToken, false},
		{"alg none", hdr(`{"alg":"none","typ":"at+jwt"}`), TypeAccessToken, false},
		{"header too long", hdr(`{"alg":"RS256","typ":"at+jwt","x":"` + strings.Repeat("x", maxHeader) + `"}`), TypeAccessToken, false},
		{"json serialisation", `{"payload":"e30","protected":"` + base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"RS256","typ":"at+jwt"}`)) + `","signature":"c2ln"}`, TypeAccessToken, false},
		{"not a jws", "garbage", TypeAccessToken, false},
		{"bad base64", "!!.e30.sig", TypeAccessToken, false},
	} {
		if _, err := Parse(tc.jws, tc.want, rs256); (err == nil) != tc.ok {
			t.Errorf("%s: Parse = %v, want ok=%v", tc.name, err, tc.ok)
		}
	}
}

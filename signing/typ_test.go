package signing

import (
	"encoding/base64"
	"testing"
)

func TestCheckType(t *testing.T) {
	hdr := func(h string) string { return base64.RawURLEncoding.EncodeToString([]byte(h)) + ".e30.sig" }
	for _, tc := range []struct {
		name, jws, want string
		ok              bool
	}{
		{"access token", hdr(`{"typ":"at+jwt"}`), TypeAccessToken, true},
		{"media type form", hdr(`{"typ":"application/at+jwt"}`), TypeAccessToken, true},
		{"case-insensitive", hdr(`{"typ":"AT+JWT"}`), TypeAccessToken, true},
		{"id token as access token", hdr(`{"typ":"JWT"}`), TypeAccessToken, false},
		{"access token as id token", hdr(`{"typ":"at+jwt"}`), TypeIDToken, false},
		{"no typ", hdr(`{}`), TypeAccessToken, false},
		{"not a jws", "garbage", TypeAccessToken, false},
		{"bad base64", "!!.e30.sig", TypeAccessToken, false},
	} {
		if err := CheckType(tc.jws, tc.want); (err == nil) != tc.ok {
			t.Errorf("%s: CheckType = %v, want ok=%v", tc.name, err, tc.ok)
		}
	}
}

package signing

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// CheckType checks a compact JWS's "typ" header against want (RFC 8725
// §3.11: explicit typing keeps one kind of token from being used as
// another). The media-type form "application/<want>" is accepted too
// (RFC 9068 §4 for at+jwt). The signature is not checked here.
func CheckType(jws, want string) error {
	h, _, ok := strings.Cut(jws, ".")
	if !ok || len(h) > 1024 {
		return errors.New("malformed token")
	}
	b, err := base64.RawURLEncoding.DecodeString(h)
	if err != nil {
		return errors.New("malformed token header")
	}
	var hdr struct {
		Typ string `json:"typ"`
	}
	if err := json.Unmarshal(b, &hdr); err != nil {
		return errors.New("malformed token header")
	}
	if !strings.EqualFold(hdr.Typ, want) && !strings.EqualFold(hdr.Typ, "application/"+want) {
		return fmt.Errorf("token type %q is not %s", hdr.Typ, want)
	}
	return nil
}

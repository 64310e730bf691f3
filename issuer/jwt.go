package issuer

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"time"
)

// checkTyp checks a compact JWS's "typ" header (RFC 8725 §3.11: explicit
// typing keeps one kind of token from being used as another).
func checkTyp(tok, want string) error {
	h, _, _ := strings.Cut(tok, ".")
	b, err := base64.RawURLEncoding.DecodeString(h)
	if err != nil {
		return errors.New("malformed header")
	}
	var hdr struct {
		Typ string `json:"typ"`
	}
	if json.Unmarshal(b, &hdr) != nil || !strings.EqualFold(hdr.Typ, want) {
		return errors.New("unexpected token type")
	}
	return nil
}

func timeUnix(sec int64) time.Time { return time.Unix(sec, 0) }

package browserlogin

import (
	"crypto/hkdf"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/securecookie"
	"github.com/gorilla/sessions"
)

// Cookie names. The session is stored in sessionCookie_0, _1, …; login
// transactions in txCookiePrefix + an id derived from their state.
const (
	sessionCookie  = "erpgate_session"
	txCookiePrefix = "erpgate_login_"
)

// Cookie size limits. Browsers keep at least 4,096 bytes per cookie
// (name, value and attributes, RFC 6265 §6.1); a chunk's value stays well
// under that. maxChunks bounds the whole session (and the Cookie header
// every request carries).
const (
	chunkSize = 3800
	maxChunks = 5
)

// Login transactions are short-lived: long enough to type a password.
const (
	txMaxAge          = 10 * time.Minute
	maxOpenLoginsKept = 4 // open logins per browser; older transaction cookies are dropped
)

// codecs turns the configured 32-byte keys into securecookie codecs: an
// HMAC-SHA256 key and an AES-256 key per configured key, derived with
// HKDF so that neither is the other. EncodeMulti uses the first codec and
// DecodeMulti tries them all: the first key encrypts, all decrypt.
func codecs(keys [][]byte, maxAge time.Duration, maxLength int) ([]securecookie.Codec, error) {
	if len(keys) == 0 {
		return nil, errors.New("browserlogin: at least one cookie key is required")
	}
	out := make([]securecookie.Codec, 0, len(keys))
	for i, k := range keys {
		if len(k) != 32 {
			return nil, fmt.Errorf("browserlogin: cookie key %d has %d bytes, want 32", i, len(k))
		}
		hashKey, err := hkdf.Key(sha256.New, k, nil, "erpgate browser cookie hmac", 32)
		if err != nil {
			return nil, err
		}
		blockKey, err := hkdf.Key(sha256.New, k, nil, "erpgate browser cookie aes-256", 32)
		if err != nil {
			return nil, err
		}
		sc := securecookie.New(hashKey, blockKey)
		sc.MaxAge(int(maxAge / time.Second))
		sc.MaxLength(maxLength)
		out = append(out, sc)
	}
	return out, nil
}

// cookieOptions are the attributes of every cookie the gateway sets.
func cookieOptions(path string, secure bool) *sessions.Options {
	return &sessions.Options{
		Path:     path,
		HttpOnly: true,
		Secure:   secure,
		SameSite: http.SameSiteLaxMode,
	}
}

// chunkedStore is a gorilla/sessions Store like CookieStore, except that
// the encoded session is cut into numbered cookies: name_0 carries
// "<count>." and the first chunk, name_1 … the rest. securecookie
// authenticates the whole encoded value, so chunks from two different
// writes never decode.
type chunkedStore struct {
	Codecs  []securecookie.Codec
	Options *sessions.Options
	name    string
}

var _ sessions.Store = (*chunkedStore)(nil)

func newChunkedStore(keys [][]byte, name string, maxAge time.Duration, secure bool) (*chunkedStore, error) {
	cs, err := codecs(keys, maxAge, chunkSize*maxChunks)
	if err != nil {
		return nil, err
	}
	return &chunkedStore{Codecs: cs, Options: cookieOptions("/", secure), name: name}, nil
}

// Get returns the request's session. It does not use the gorilla
// registry, which rewrites *r to carry itself.
func (s *chunkedStore) Get(r *http.Request, name string) (*sessions.Session, error) {
	return s.New(r, name)
}

// New decodes the session from the request's chunks; a missing or
// undecodable session comes back empty with IsNew set (and, if it was
// there but bad, an error).
func (s *chunkedStore) New(r *http.Request, name string) (*sessions.Session, error) {
	sess := sessions.NewSession(s, name)
	opts := *s.Options
	sess.Options = &opts
	sess.IsNew = true
	encoded, ok := readChunks(r, name)
	if !ok {
		return sess, nil
	}
	if err := securecookie.DecodeMulti(name, encoded, &sess.Values, s.Codecs...); err != nil {
		sess.Values = make(map[any]any)
		return sess, err
	}
	sess.IsNew = false
	return sess, nil
}

// Save writes the session's chunks and expires any chunk the request
// carried beyond them; a session with Options.MaxAge < 0 is deleted.
func (s *chunkedStore) Save(r *http.Request, w http.ResponseWriter, sess *sessions.Session) error {
	name := sess.Name()
	var chunks []string
	if sess.Options.MaxAge >= 0 {
		encoded, err := securecookie.EncodeMulti(name, sess.Values, s.Codecs...)
		if err != nil {
			return err
		}
		for len(encoded) > 0 {
			n := min(chunkSize, len(encoded))
			chunks = append(chunks, encoded[:n])
			encoded = encoded[n:]
		}
		if len(chunks) > maxChunks {
			return fmt.Errorf("browserlogin: session needs %d cookies, more than %d", len(chunks), maxChunks)
		}
		chunks[0] = strconv.Itoa(len(chunks)) + "." + chunks[0]
	}
	for i, c := range chunks {
		http.SetCookie(w, sessions.NewCookie(chunkName(name, i), c, sess.Options))
	}
	gone := *sess.Options
	gone.MaxAge = -1
	for _, c := range r.Cookies() {
		if i, ok := chunkIndex(name, c.Name); ok && i >= len(chunks) {
			http.SetCookie(w, sessions.NewCookie(c.Name, "", &gone))
		}
	}
	return nil
}

func chunkName(name string, i int) string { return name + "_" + strconv.Itoa(i) }

// chunkIndex is i when cookie is name_i.
func chunkIndex(name, cookie string) (int, bool) {
	rest, ok := strings.CutPrefix(cookie, name+"_")
	if !ok || rest == "" || len(rest) > 2 {
		return 0, false
	}
	i, err := strconv.Atoi(rest)
	return i, err == nil && i >= 0 && strconv.Itoa(i) == rest
}

// readChunks joins name_0 … name_{count-1}. It fails when a chunk is
// missing or the count is not one this store writes.
func readChunks(r *http.Request, name string) (string, bool) {
	first, err := r.Cookie(chunkName(name, 0))
	if err != nil {
		return "", false
	}
	cnt, rest, ok := strings.Cut(first.Value, ".")
	n, err := strconv.Atoi(cnt)
	if !ok || err != nil || n < 1 || n > maxChunks {
		return "", false
	}
	var b strings.Builder
	b.WriteString(rest)
	for i := 1; i < n; i++ {
		c, err := r.Cookie(chunkName(name, i))
		if err != nil {
			return "", false
		}
		b.WriteString(c.Value)
	}
	return b.String(), true
}

// hasChunks reports whether the request carries any chunk of the session.
func hasChunks(r *http.Request, name string) bool {
	for _, c := range r.Cookies() {
		if _, ok := chunkIndex(name, c.Name); ok {
			return true
		}
	}
	return false
}

// transaction is one login in progress, from StartLogin to the callback.
type transaction struct {
	State    string `json:"s"`
	Verifier string `json:"v"` // PKCE code_verifier (RFC 7636 §4.1)
	Nonce    string `json:"n"`
	ReturnTo string `json:"r"`
	// A step-up's acr_values and max_age (seconds), recorded on the
	// session it produces (stepup.go).
	ACR    string `json:"a,omitempty"`
	MaxAge int64  `json:"m,omitempty"`
}

// txCodec reads and writes transaction cookies (JSON, encrypted and
// authenticated, valid for txMaxAge).
type txCodec struct {
	codecs []securecookie.Codec
	opts   *sessions.Options
}

func newTxCodec(keys [][]byte, secure bool) (*txCodec, error) {
	cs, err := codecs(keys, txMaxAge, 4096)
	if err != nil {
		return nil, err
	}
	for _, c := range cs {
		c.(*securecookie.SecureCookie).SetSerializer(securecookie.JSONEncoder{})
	}
	opts := cookieOptions(CallbackPath, secure)
	opts.MaxAge = int(txMaxAge / time.Second)
	return &txCodec{codecs: cs, opts: opts}, nil
}

// txCookieName names a transaction's cookie after the start of its state
// (the state is random base64url, which is valid in a cookie name).
func txCookieName(state string) string {
	id := state
	if len(id) > 16 {
		id = id[:16]
	}
	return txCookiePrefix + id
}

// write sets the transaction's cookie, first dropping the oldest of the
// request's other open transactions beyond maxOpenLoginsKept. (Cookies do
// not say their age; the request lists them in no guaranteed order, so
// "oldest" is the first ones listed, which browsers order by creation.)
func (c *txCodec) write(w http.ResponseWriter, r *http.Request, t transaction) error {
	name := txCookieName(t.State)
	v, err := securecookie.EncodeMulti(name, t, c.codecs...)
	if err != nil {
		return err
	}
	var open []string
	for _, ck := range r.Cookies() {
		if strings.HasPrefix(ck.Name, txCookiePrefix) && ck.Name != name {
			open = append(open, ck.Name)
		}
	}
	for i := 0; i < len(open)-(maxOpenLoginsKept-1); i++ {
		c.clear(w, open[i])
	}
	http.SetCookie(w, sessions.NewCookie(name, v, c.opts))
	return nil
}

// read returns the transaction whose state is state.
func (c *txCodec) read(r *http.Request, state string) (transaction, bool) {
	var t transaction
	if state == "" {
		return t, false
	}
	name := txCookieName(state)
	ck, err := r.Cookie(name)
	if err != nil {
		return t, false
	}
	if err := securecookie.DecodeMulti(name, ck.Value, &t, c.codecs...); err != nil {
		return transaction{}, false
	}
	return t, true
}

func (c *txCodec) clear(w http.ResponseWriter, name string) {
	gone := *c.opts
	gone.MaxAge = -1
	http.SetCookie(w, sessions.NewCookie(name, "", &gone))
}

package requestid

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"math/rand/v2"
	"net/http"
	"unsafe"
)

// Header is the header carrying the id.
const Header = "X-Request-Id"

type ctxKey struct{}

// idContext is the context a request's id travels in. One allocation
// holds the context node, the id's text and the response header's
// value, where context.WithValue, the hex string, the string boxed in
// an interface and Header().Set's slice cost four on every request.
type idContext struct {
	context.Context
	id  string
	hdr [1]string // the response header's value: id
	hex [32]byte  // a fresh id's text; id points here
}

// Value answers ctxKey with c itself, a pointer: returning the id would
// box a string on every From.
func (c *idContext) Value(key any) any {
	if _, ok := key.(ctxKey); ok {
		return c
	}
	return c.Context.Value(key)
}

// From returns the request id in ctx, or "".
func From(ctx context.Context) string {
	if c, ok := ctx.Value(ctxKey{}).(*idContext); ok {
		return c.id
	}
	return ""
}

// With returns ctx carrying id.
func With(ctx context.Context, id string) context.Context {
	return &idContext{Context: ctx, id: id}
}

// Middleware assigns the id and echoes it in the response.
func Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := &idContext{Context: r.Context()}
		if id := r.Header.Get(Header); valid(id) {
			c.id = id
		} else {
			c.id = c.fresh()
		}
		c.hdr[0] = c.id
		w.Header()[Header] = c.hdr[:] // Header is canonical: no Set to canonicalise it
		next.ServeHTTP(w, r.WithContext(c))
	})
}

// fresh writes a new id into c.hex and returns it. The string shares
// c.hex, which nothing writes again.
func (c *idContext) fresh() string {
	var b [16]byte
	random(&b)
	hex.Encode(c.hex[:], b[:])
	return unsafe.String(&c.hex[0], len(c.hex))
}

// New returns a fresh random id (128 bits, hex). An id must be unique,
// not secret, so it comes from math/rand/v2's per-thread ChaCha8 (seeded
// by the runtime from the system's randomness) rather than a system
// call per request: 20 ns instead of 400.
func New() string {
	var b [16]byte
	random(&b)
	return hex.EncodeToString(b[:])
}

func random(b *[16]byte) {
	binary.LittleEndian.PutUint64(b[:8], rand.Uint64())
	binary.LittleEndian.PutUint64(b[8:], rand.Uint64())
}

// valid accepts ids a log pipeline can carry safely: 1–64 characters of
// letters, digits, '-', '_', '.'.
func valid(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_', c == '.':
		default:
			return false
		}
	}
	return true
}

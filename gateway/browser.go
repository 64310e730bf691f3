package gateway

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/erpgate/erpgate/browserlogin"
	"github.com/erpgate/erpgate/config"
	"github.com/erpgate/erpgate/proxy"
	"github.com/erpgate/erpgate/signing"
	"github.com/erpgate/erpgate/webui"
)

// newBrowserLogin builds browser login at the proxy from the gateway
// section, or returns nil when gateway.client_id is not set. The gateway
// reaches its issuer in-process: no network hop, and public_url need not
// be reachable from the server itself.
func newBrowserLogin(f *config.File, iss http.Handler, keys *signing.Keyring, pages *webui.Kit, clock func() time.Time, logger *slog.Logger) (proxy.Browser, error) {
	g := f.Gateway
	if !g.Enabled() {
		return nil, nil
	}
	cookieKeys, err := g.DecodedCookieKeys()
	if err != nil {
		return nil, err
	}
	var scopes []string
	for _, a := range f.Apps {
		if a.URI == g.ClientID {
			scopes = a.Scopes()
		}
	}
	h, err := browserlogin.New(browserlogin.Config{
		Issuer: f.Issuer(), PublicURL: f.PublicURL,
		ClientID: g.ClientID, ClientSecret: g.ClientSecret, Scopes: scopes,
		CookieKeys: cookieKeys, KeySet: keys, Algorithms: signing.Algorithms,
		HTTPClient:    &http.Client{Transport: inProcess{iss}, Timeout: 30 * time.Second},
		SessionMaxAge: f.Tokens.RefreshTokenTTL.D(),
		// Its cache of refresh results lasts no longer than the grace.
		RefreshReuseGrace: f.Tokens.RefreshReuseGrace.D(),
		Pages:             pages, Clock: clock, Logger: logger,
	})
	if err != nil {
		return nil, fmt.Errorf("gateway: %w", err)
	}
	return h, nil
}

// inProcess is an http.RoundTripper that serves requests with a handler
// in this process.
type inProcess struct{ h http.Handler }

func (t inProcess) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.RemoteAddr = "127.0.0.1:0" // the gateway itself
	r.RequestURI = r.URL.RequestURI()
	if r.Host == "" {
		r.Host = r.URL.Host
	}
	if r.Body == nil {
		r.Body = http.NoBody
	}
	w := &bufferedResponse{header: http.Header{}}
	t.h.ServeHTTP(w, r)
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return &http.Response{
		Status:        strconv.Itoa(w.status) + " " + http.StatusText(w.status),
		StatusCode:    w.status,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        w.header,
		Body:          io.NopCloser(&w.body),
		ContentLength: int64(w.body.Len()),
		Request:       r,
	}, nil
}

// bufferedResponse collects a handler's answer.
type bufferedResponse struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (b *bufferedResponse) Header() http.Header { return b.header }

func (b *bufferedResponse) WriteHeader(code int) {
	if b.status == 0 {
		b.status = code
	}
}

func (b *bufferedResponse) Write(p []byte) (int, error) {
	if b.status == 0 {
		b.status = http.StatusOK
	}
	return b.body.Write(p)
}

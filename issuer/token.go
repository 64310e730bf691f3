package issuer

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/erpgate/erpgate/audit"
	"github.com/erpgate/erpgate/dpop"
	"github.com/erpgate/erpgate/metrics"
	"github.com/erpgate/erpgate/requestid"
)

// Bounds on what the identity server reads from one request (issue 15):
// real requests are < 4 KiB with fewer than 20 parameters.
const (
	// maxFormBytes bounds a form body.
	maxFormBytes = 64 << 10
	// maxQueryBytes bounds the query string of the authorization and
	// end-session endpoints.
	maxQueryBytes = 16 << 10
	// maxFormValues bounds the parameters of one request, query and body
	// together, counting repeats.
	maxFormValues = 64
	// defaultFormReadTimeout is how long a request body may take to
	// arrive, from the handler's start (Limits.FormReadTimeout).
	defaultFormReadTimeout = 5 * time.Second
)

// tokenResponse is RFC 6749 §5.1's successful response.
type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	Scope        string `json:"scope,omitempty"`
	RefreshToken string `json:"refresh_token,omitempty"`
	IDToken      string `json:"id_token,omitempty"`
	// IssuedTokenType is RFC 8693 §2.2.1's, for token exchange.
	IssuedTokenType string `json:"issued_token_type,omitempty"`
}

// grant is the outcome of a grant handler, for the response, the audit
// line and the metrics.
type grant struct {
	resp    tokenResponse
	subject string
	session string
}

// handleToken is the token endpoint (RFC 6749 §3.2): POST only, form body,
// the client authenticated first, then the grant dispatched.
func (s *Server) handleToken(w http.ResponseWriter, r *http.Request) {
	if nonce := s.dpop.Nonce(); nonce != "" {
		// RFC 9449 §8.2: the nonce for the next proof, on every answer.
		w.Header().Set(dpop.NonceHeader, nonce)
	}
	g, grantType, clientID, err := s.tokenGrant(w, r)
	if err != nil {
		s.tokenRefused(r.Context(), r, grantType, clientID, err)
		writeError(w, asOAuthError(err))
		return
	}
	s.cfg.Metrics.TokensIssued.WithLabelValues(grantType, clientID).Inc()
	s.cfg.Audit.Log(r.Context(), audit.Event{
		Name: audit.TokenIssued, ClientID: clientID, Subject: g.subject, Session: g.session,
		RequestID: requestid.From(r.Context()), RemoteAddr: r.RemoteAddr,
		Attrs: tokenAttrs(grantType, g.resp.AccessToken),
	})
	writeJSON(w, http.StatusOK, g.resp)
}

// tokenGrant reads a token request, authenticates its client and runs
// its grant. grantType and clientID name the request in the metrics and
// the audit line, refused or not: "unknown" and "" while not known (a
// refused client is named only if it is a configured one).
func (s *Server) tokenGrant(w http.ResponseWriter, r *http.Request) (g *grant, grantType, clientID string, err error) {
	grantType = "unknown"
	form, err := readForm(w, r)
	if err != nil {
		return nil, grantType, "", err
	}
	if gt := form.Get("grant_type"); gt != "" && len(gt) <= 64 {
		grantType = gt
	}
	if grantType == GrantTokenExchange {
		grantType = grantLabelTokenExchange // token_exchange.go; a short label
	}
	app, err := s.authenticateClient(r, form, doorToken)
	if err != nil {
		clientID = s.clientIDHint(r, form)
		app = nil
		if isThrottled(err) {
			return nil, grantType, clientID, err
		}
	}
	// Refused clients are charged to their address (tokenRateKey);
	// the failure throttle above has already counted them.
	if ok, wait := s.tokenLimiter.take(tokenRateKey(r, app)); !ok {
		s.refusedBy(metrics.LimiterToken)
		return nil, grantType, clientID, errTooManyRequests(wait)
	}
	if err != nil {
		return nil, grantType, clientID, err
	}
	clientID = app.ID
	jkt, err := s.tokenProof(r, app)
	if err != nil {
		return nil, grantType, clientID, err
	}
	switch form.Get("grant_type") {
	case "client_credentials":
		g, err = s.clientCredentials(app, form, jkt)
	case "authorization_code":
		g, err = s.authorizationCode(r.Context(), app, form, jkt)
	case "refresh_token":
		g, err = s.refreshToken(r.Context(), app, form, jkt)
	case GrantTokenExchange:
		g, err = s.tokenExchange(r, app, form, jkt) // token_exchange.go
	case "":
		err = ErrInvalidRequest.WithDescription("grant_type is required")
	default:
		err = ErrUnsupportedGrantType.WithDescription("grant_type " + safeParam(form.Get("grant_type")) + " is not supported")
	}
	return g, grantType, clientID, err
}

func (s *Server) tokenRefused(ctx context.Context, r *http.Request, grantType, clientID string, err error) {
	oe := asOAuthError(err)
	if !knownGrant(grantType) {
		grantType = "other" // bounded label values
	}
	s.cfg.Metrics.TokenErrors.WithLabelValues(grantType, oe.Code).Inc()
	if oe.Code == ErrServerError.Code {
		s.cfg.Logger.ErrorContext(ctx, "token endpoint failed", "err", err, "request_id", requestid.From(ctx))
	}
	s.cfg.Audit.Log(ctx, audit.Event{
		Name: audit.TokenRefused, ClientID: clientID,
		RequestID: requestid.From(ctx), RemoteAddr: r.RemoteAddr,
		Reason: oe.Code, Attrs: tokenAttrs(grantType, ""),
	})
}

func knownGrant(g string) bool {
	switch g {
	case "client_credentials", "authorization_code", "refresh_token", grantLabelTokenExchange, "unknown":
		return true
	}
	return false
}

func tokenAttrs(grantType, token string) []slog.Attr {
	attrs := []slog.Attr{slog.String("grant_type", grantType)}
	if token != "" {
		attrs = append(attrs, slog.String("token_hash", audit.TokenHash(token)))
	}
	return attrs
}

// clientIDHint names the client of a refused request in the audit line,
// when it is a configured one (never echo arbitrary input into logs).
func (s *Server) clientIDHint(r *http.Request, form url.Values) string {
	id := form.Get("client_id")
	if u, _, ok := r.BasicAuth(); ok {
		id, _ = url.QueryUnescape(u)
	}
	if s.cfg.Directory.App(id) == nil {
		return ""
	}
	return id
}

// readForm reads an application/x-www-form-urlencoded POST body. Every
// parameter may appear at most once (RFC 6749 §3.2) and none may be sent
// in the query string, where it would end up in logs.
func readForm(w http.ResponseWriter, r *http.Request) (url.Values, error) {
	if r.Method != http.MethodPost {
		return nil, errMethodNotAllowed
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/x-www-form-urlencoded" {
		return nil, errUnsupportedContentType
	}
	if r.URL.RawQuery != "" {
		return nil, ErrInvalidRequest.WithDescription("parameters must be sent in the request body, not the query string")
	}
	if err := parseForm(w, r); err != nil {
		return nil, err
	}
	for k, v := range r.PostForm {
		if len(v) > 1 {
			return nil, ErrInvalidRequest.WithDescription("parameter " + safeParam(k) + " repeated")
		}
	}
	return r.PostForm, nil
}

// parseForm parses r's query and body (r.Form, r.PostForm) within the
// identity server's bounds: a query of at most maxQueryBytes, a body of
// at most maxFormBytes arriving within the form read timeout
// (boundBody), and at most maxFormValues parameters in all. Every
// endpoint that reads parameters parses them here; the error says which
// bound was crossed.
func parseForm(w http.ResponseWriter, r *http.Request) *Error {
	if len(r.URL.RawQuery) > maxQueryBytes {
		return errTooLarge.WithDescription("query string too long")
	}
	if n := strings.Count(r.URL.RawQuery, "&") + 1; r.URL.RawQuery != "" && n > maxFormValues {
		return errTooManyParameters
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		var mbe *http.MaxBytesError
		var ne net.Error
		switch {
		case errors.As(err, &mbe):
			return errTooLarge.WithDescription("request body too large")
		case errors.Is(err, errFormValues):
			return errTooManyParameters
		case errors.As(err, &ne) && ne.Timeout():
			return errRequestTimeout
		}
		return ErrInvalidRequest.WithDescription("the parameters cannot be parsed")
	}
	n := 0
	for _, v := range r.Form {
		n += len(v)
	}
	if n > maxFormValues {
		return errTooManyParameters
	}
	return nil
}

// errFormValues is boundBody's read error once a body holds more than
// maxFormValues parameters.
var errFormValues = errors.New("issuer: too many form parameters")

// boundBody bounds how the request body of any identity-server request
// is read, before the handler runs: it must arrive within the form read
// timeout (a read deadline on the connection, so a client that declares
// Content-Length: 1000 and sends 3 bytes is cut and its goroutine
// freed), and reading stops with errFormValues after maxFormValues
// parameters. A body read to its end no longer needs the deadline, and
// net/http lifts it itself when it starts its background read there, so
// a handler slower than the timeout after reading is not cut; a body
// never read to the end keeps it, so the server's own drain of the rest
// after the handler cannot hang either.
func (s *Server) boundBody(w http.ResponseWriter, r *http.Request) {
	if r.Body == nil || r.Body == http.NoBody {
		return
	}
	// Not every ResponseWriter has a connection (httptest.ResponseRecorder):
	// then there is no deadline, and the parameter cap still applies.
	_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(s.formReadTimeout))
	r.Body = &boundedBody{ReadCloser: r.Body}
}

// boundedBody counts parameter separators as the body is read.
type boundedBody struct {
	io.ReadCloser
	amps int
}

func (b *boundedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.amps += bytes.Count(p[:n], []byte("&"))
	if b.amps >= maxFormValues {
		return n, errFormValues
	}
	return n, err
}

// safeParam makes client input fit an error_description, which RFC 6749
// §5.2 limits to %x20-21 / %x23-5B / %x5D-7E.
func safeParam(v string) string {
	if len(v) > 40 {
		v = v[:40]
	}
	return strings.Map(func(c rune) rune {
		if c < 0x20 || c == '"' || c == '\\' || c > 0x7E {
			return '?'
		}
		return c
	}, v)
}

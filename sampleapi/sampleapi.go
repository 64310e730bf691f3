package sampleapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// Paths the sample API serves.
const (
	HealthPath  = "/api/health"
	ODataRoot   = "/api/domain/odata" // the echo serves this and everything below it
	ODataPrefix = ODataRoot + "/"
	PersonsPath = ODataPrefix + "General_Contacts_Persons"
	HTMLPrefix  = "/api/domain/html/"
)

// The identity headers the gateway sets on upstream requests (SPEC §4).
const (
	HeaderSubject   = "X-Auth-Subject"
	HeaderUserID    = "X-Auth-User-Id"
	HeaderClientID  = "X-Auth-Client-Id"
	HeaderScope     = "X-Auth-Scope"
	HeaderSession   = "X-Auth-Session"
	HeaderUserType  = "X-Auth-User-Type"
	HeaderRequestID = "X-Request-Id"
)

// Values of Echo.Authorization and Echo.APIKey.
const (
	Present = "present"
	Absent  = "absent"
)

// Auth is the caller's identity as the gateway passed it on, one field
// per X-Auth-* header ("" when the header is absent).
type Auth struct {
	Subject  string `json:"subject"`   // X-Auth-Subject: login or system user
	UserID   string `json:"user_id"`   // X-Auth-User-Id
	ClientID string `json:"client_id"` // X-Auth-Client-Id
	Scope    string `json:"scope"`     // X-Auth-Scope, space-delimited
	Session  string `json:"session"`   // X-Auth-Session
	UserType string `json:"user_type"` // X-Auth-User-Type
}

// Forwarded holds the X-Forwarded-* headers the upstream received.
type Forwarded struct {
	For   string `json:"for"`
	Host  string `json:"host"`
	Proto string `json:"proto"`
}

// Echo is the body of every /api/domain/odata/... response except the
// persons list: what the upstream received. Decode it with DecodeEcho.
type Echo struct {
	Method        string    `json:"method"`
	Path          string    `json:"path"`  // decoded, as received (r.URL.Path)
	Query         string    `json:"query"` // raw query string
	Host          string    `json:"host"`  // the Host header
	Proto         string    `json:"proto"` // "HTTP/1.1", "HTTP/2.0"
	Auth          Auth      `json:"auth"`
	RequestID     string    `json:"request_id"`
	Authorization string    `json:"authorization"` // Present or Absent; never the value
	APIKey        string    `json:"api_key"`       // X-Api-Key or Api-Key: Present or Absent
	CookieNames   []string  `json:"cookie_names"`  // names only, never values
	Forwarded     Forwarded `json:"forwarded"`
	// HeadersXAuth holds every X-Auth-* header received, canonical name
	// to value; several values of one header are joined with ", ".
	HeadersXAuth map[string]string `json:"headers_x_auth"`
	BodyBytes    int64             `json:"body_bytes"`
}

// Person is one row of the sample General_Contacts_Persons entity set.
type Person struct {
	ID        string `json:"Id"`
	FirstName string `json:"FirstName"`
	LastName  string `json:"LastName"`
	Email     string `json:"Email"`
	City      string `json:"City"`
}

// Persons is the body of GET /api/domain/odata/General_Contacts_Persons.
type Persons struct {
	Context string   `json:"@odata.context"`
	Value   []Person `json:"value"`
	Auth    Auth     `json:"auth"`
}

// Error is the body of every error response.
type Error struct {
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description"`
}

// SamplePersons returns the fixed dataset the persons endpoint serves.
func SamplePersons() []Person {
	return []Person{
		{ID: "3f2b6c1e-7a4d-4c8e-9b1a-0d5e6f7a8b01", FirstName: "Maria", LastName: "Ivanova", Email: "maria.ivanova@example.com", City: "Sofia"},
		{ID: "8c9d0e1f-2a3b-4c5d-8e7f-1a2b3c4d5e02", FirstName: "John", LastName: "Smith", Email: "john.smith@example.com", City: "Leeds"},
		{ID: "d4e5f6a7-b8c9-4d0e-9f1a-2b3c4d5e6f03", FirstName: "Ana", LastName: "García", Email: "ana.garcia@example.com", City: "Sevilla"},
	}
}

// DecodeEcho decodes an echo response body, refusing unknown fields so a
// test notices when it decoded something else (a persons list, an error).
func DecodeEcho(body io.Reader) (*Echo, error) {
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	var e Echo
	if err := dec.Decode(&e); err != nil {
		return nil, fmt.Errorf("sampleapi: decoding echo: %w", err)
	}
	return &e, nil
}

// New returns the sample API handler. It keeps no state.
func New() http.Handler { return http.HandlerFunc(serve) }

var (
	healthMethods = []string{http.MethodGet, http.MethodHead}
	htmlMethods   = []string{http.MethodGet, http.MethodHead}
	echoMethods   = []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete}
)

func serve(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	switch {
	case p == HealthPath:
		if allow(w, r, healthMethods) {
			writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
		}
	case p == PersonsPath && (r.Method == http.MethodGet || r.Method == http.MethodHead):
		writeJSON(w, http.StatusOK, Persons{
			Context: "$metadata#General_Contacts_Persons",
			Value:   SamplePersons(),
			Auth:    authOf(r.Header),
		})
	case p == ODataRoot || strings.HasPrefix(p, ODataPrefix):
		if allow(w, r, echoMethods) {
			echo(w, r)
		}
	case strings.HasPrefix(p, HTMLPrefix):
		if allow(w, r, htmlMethods) {
			page(w, r)
		}
	default:
		writeJSON(w, http.StatusNotFound, Error{Error: "not_found", ErrorDescription: "no resource at " + p})
	}
}

// allow answers 405 with an Allow header unless r.Method is in methods.
func allow(w http.ResponseWriter, r *http.Request, methods []string) bool {
	for _, m := range methods {
		if r.Method == m {
			return true
		}
	}
	w.Header().Set("Allow", strings.Join(methods, ", "))
	writeJSON(w, http.StatusMethodNotAllowed, Error{Error: "method_not_allowed", ErrorDescription: r.Method + " is not allowed here"})
	return false
}

func echo(w http.ResponseWriter, r *http.Request) {
	n, err := io.Copy(io.Discard, r.Body)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, Error{Error: "bad_request", ErrorDescription: "reading the body failed after " + strconv.FormatInt(n, 10) + " bytes"})
		return
	}
	h := r.Header
	e := Echo{
		Method:        r.Method,
		Path:          r.URL.Path,
		Query:         r.URL.RawQuery,
		Host:          r.Host,
		Proto:         r.Proto,
		Auth:          authOf(h),
		RequestID:     h.Get(HeaderRequestID),
		Authorization: presence(h, "Authorization"),
		APIKey:        presence(h, "X-Api-Key", "Api-Key"),
		CookieNames:   []string{},
		Forwarded: Forwarded{
			For:   strings.Join(h.Values("X-Forwarded-For"), ", "),
			Host:  strings.Join(h.Values("X-Forwarded-Host"), ", "),
			Proto: strings.Join(h.Values("X-Forwarded-Proto"), ", "),
		},
		HeadersXAuth: map[string]string{},
		BodyBytes:    n,
	}
	for _, c := range r.Cookies() {
		e.CookieNames = append(e.CookieNames, c.Name)
	}
	for name, values := range h {
		// Header keys are canonical when they come from net/http's server.
		if strings.HasPrefix(http.CanonicalHeaderKey(name), "X-Auth-") {
			e.HeadersXAuth[http.CanonicalHeaderKey(name)] = strings.Join(values, ", ")
		}
	}
	writeJSON(w, http.StatusOK, e)
}

func authOf(h http.Header) Auth {
	return Auth{
		Subject:  h.Get(HeaderSubject),
		UserID:   h.Get(HeaderUserID),
		ClientID: h.Get(HeaderClientID),
		Scope:    h.Get(HeaderScope),
		Session:  h.Get(HeaderSession),
		UserType: h.Get(HeaderUserType),
	}
}

func presence(h http.Header, names ...string) string {
	for _, n := range names {
		if len(h.Values(n)) > 0 {
			return Present
		}
	}
	return Absent
}

var pageTemplate = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Sample ERP</title></head>
<body>
<h1>Sample ERP</h1>
{{if .Subject}}<p>Signed in as <strong id="subject">{{.Subject}}</strong>{{if .UserType}} ({{.UserType}}){{end}}</p>
{{else}}<p id="anonymous">Not signed in</p>
{{end}}<p>Page <code id="path">{{.Path}}</code>{{if .RequestID}}, request <code id="request-id">{{.RequestID}}</code>{{end}}</p>
</body>
</html>
`))

// page renders the HTML page for browser-login tests. html/template
// escapes the subject, so a hostile X-Auth-Subject stays text.
func page(w http.ResponseWriter, r *http.Request) {
	var buf bytes.Buffer
	err := pageTemplate.Execute(&buf, struct{ Subject, UserType, Path, RequestID string }{
		Subject:   r.Header.Get(HeaderSubject),
		UserType:  r.Header.Get(HeaderUserType),
		Path:      r.URL.Path,
		RequestID: r.Header.Get(HeaderRequestID),
	})
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, Error{Error: "server_error", ErrorDescription: "rendering the page failed"})
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(buf.Len()))
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(buf.Bytes())
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil { // cannot happen with the types above
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	b = append(b, '\n')
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

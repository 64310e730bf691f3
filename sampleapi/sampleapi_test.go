package sampleapi

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
)

const secretToken = "eyJhbGciOiJSUzI1NiJ9.c2VjcmV0LXRva2Vu.c2lnbmF0dXJl"

func start(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(New())
	t.Cleanup(srv.Close)
	return srv
}

func do(t *testing.T, srv *httptest.Server, method, target string, body io.Reader, header http.Header) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+target, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

func TestHealth(t *testing.T) {
	srv := start(t)
	tests := []struct {
		name      string
		method    string
		wantCode  int
		wantBody  string
		wantAllow string
	}{
		{name: "GET", method: "GET", wantCode: 200, wantBody: `{"status":"ok"}` + "\n"},
		{name: "HEAD", method: "HEAD", wantCode: 200, wantBody: ""},
		{name: "POST refused", method: "POST", wantCode: 405, wantAllow: "GET, HEAD"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := do(t, srv, tt.method, HealthPath, nil, nil)
			if resp.StatusCode != tt.wantCode {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.wantCode)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
			if tt.wantCode == 200 && string(body) != tt.wantBody {
				t.Errorf("body %q, want %q", body, tt.wantBody)
			}
			if got := resp.Header.Get("Allow"); got != tt.wantAllow {
				t.Errorf("Allow %q, want %q", got, tt.wantAllow)
			}
		})
	}
}

func TestEcho(t *testing.T) {
	srv := start(t)
	identity := http.Header{
		"Authorization":     {"Bearer " + secretToken},
		"X-Auth-Subject":    {"alice"},
		"X-Auth-User-Id":    {"7"},
		"X-Auth-Client-Id":  {"com.example/app"},
		"X-Auth-Scope":      {"read update"},
		"X-Auth-Session":    {"sid-1"},
		"X-Auth-User-Type":  {"internal"},
		"X-Request-Id":      {"req-42"},
		"X-Forwarded-For":   {"203.0.113.7"},
		"X-Forwarded-Host":  {"erp.example.com"},
		"X-Forwarded-Proto": {"https"},
	}
	wantAuth := Auth{Subject: "alice", UserID: "7", ClientID: "com.example/app", Scope: "read update", Session: "sid-1", UserType: "internal"}
	wantXAuth := map[string]string{
		"X-Auth-Subject": "alice", "X-Auth-User-Id": "7", "X-Auth-Client-Id": "com.example/app",
		"X-Auth-Scope": "read update", "X-Auth-Session": "sid-1", "X-Auth-User-Type": "internal",
	}
	tests := []struct {
		name   string
		method string
		target string
		body   string
		header http.Header
		want   Echo
	}{
		{
			name: "GET with identity", method: "GET", target: "/api/domain/odata/Crm_Sales_SalesOrders?$top=2&$filter=Name%20eq%20'x'", header: identity,
			want: Echo{
				Method: "GET", Path: "/api/domain/odata/Crm_Sales_SalesOrders", Query: "$top=2&$filter=Name%20eq%20'x'",
				Auth: wantAuth, RequestID: "req-42", Authorization: Present, APIKey: Absent, CookieNames: []string{},
				Forwarded:    Forwarded{For: "203.0.113.7", Host: "erp.example.com", Proto: "https"},
				HeadersXAuth: wantXAuth,
			},
		},
		{
			name: "anonymous", method: "GET", target: "/api/domain/odata/x",
			want: Echo{
				Method: "GET", Path: "/api/domain/odata/x", Authorization: Absent, APIKey: Absent,
				CookieNames: []string{}, HeadersXAuth: map[string]string{},
			},
		},
		{
			name: "odata root", method: "GET", target: "/api/domain/odata",
			want: Echo{
				Method: "GET", Path: "/api/domain/odata", Authorization: Absent, APIKey: Absent,
				CookieNames: []string{}, HeadersXAuth: map[string]string{},
			},
		},
		{
			name: "POST counts the body", method: "POST", target: "/api/domain/odata/General_Contacts_Persons", body: `{"FirstName":"Eve"}`,
			want: Echo{
				Method: "POST", Path: "/api/domain/odata/General_Contacts_Persons", Authorization: Absent, APIKey: Absent,
				CookieNames: []string{}, HeadersXAuth: map[string]string{}, BodyBytes: 19,
			},
		},
		{name: "PUT", method: "PUT", target: "/api/domain/odata/x", body: "abc", want: Echo{Method: "PUT", Path: "/api/domain/odata/x", Authorization: Absent, APIKey: Absent, CookieNames: []string{}, HeadersXAuth: map[string]string{}, BodyBytes: 3}},
		{name: "PATCH", method: "PATCH", target: "/api/domain/odata/x", want: Echo{Method: "PATCH", Path: "/api/domain/odata/x", Authorization: Absent, APIKey: Absent, CookieNames: []string{}, HeadersXAuth: map[string]string{}}},
		{name: "DELETE", method: "DELETE", target: "/api/domain/odata/x", want: Echo{Method: "DELETE", Path: "/api/domain/odata/x", Authorization: Absent, APIKey: Absent, CookieNames: []string{}, HeadersXAuth: map[string]string{}}},
		{
			name: "smuggled and repeated X-Auth headers are all shown", method: "GET", target: "/api/domain/odata/x",
			header: http.Header{"X-Auth-Subject": {"mallory", "alice"}, "X-Auth-Extra": {"1"}},
			want: Echo{
				Method: "GET", Path: "/api/domain/odata/x", Authorization: Absent, APIKey: Absent, CookieNames: []string{},
				Auth:         Auth{Subject: "mallory"},
				HeadersXAuth: map[string]string{"X-Auth-Subject": "mallory, alice", "X-Auth-Extra": "1"},
			},
		},
		{
			name: "API key and cookies: presence and names only", method: "GET", target: "/api/domain/odata/x",
			header: http.Header{"X-Api-Key": {"enrt_" + strings.Repeat("ab", 32)}, "Cookie": {"_erpgate=" + secretToken + "; theme=dark"}},
			want: Echo{
				Method: "GET", Path: "/api/domain/odata/x", Authorization: Absent, APIKey: Present,
				CookieNames: []string{"_erpgate", "theme"}, HeadersXAuth: map[string]string{},
			},
		},
		{
			name: "decoded path", method: "GET", target: "/api/domain/odata/a%20b",
			want: Echo{Method: "GET", Path: "/api/domain/odata/a b", Authorization: Absent, APIKey: Absent, CookieNames: []string{}, HeadersXAuth: map[string]string{}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var body io.Reader
			if tt.body != "" {
				body = strings.NewReader(tt.body)
			}
			resp, raw := do(t, srv, tt.method, tt.target, body, tt.header)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d: %s", resp.StatusCode, raw)
			}
			if strings.Contains(string(raw), secretToken) || strings.Contains(string(raw), "enrt_") {
				t.Fatalf("a credential appears in the output: %s", raw)
			}
			got, err := DecodeEcho(strings.NewReader(string(raw)))
			if err != nil {
				t.Fatal(err)
			}
			want := tt.want
			want.Host = strings.TrimPrefix(srv.URL, "http://")
			want.Proto = "HTTP/1.1"
			if !reflect.DeepEqual(*got, want) {
				t.Errorf("echo\n got %+v\nwant %+v", *got, want)
			}
		})
	}
}

func TestEchoHEAD(t *testing.T) {
	srv := start(t)
	resp, body := do(t, srv, "HEAD", "/api/domain/odata/x", nil, nil)
	if resp.StatusCode != 200 || len(body) != 0 || resp.ContentLength <= 0 {
		t.Fatalf("HEAD: status %d, body %q, Content-Length %d", resp.StatusCode, body, resp.ContentLength)
	}
}

func TestEchoMethodNotAllowed(t *testing.T) {
	srv := start(t)
	for _, m := range []string{"OPTIONS", "TRACE", "PROPFIND"} {
		t.Run(m, func(t *testing.T) {
			resp, body := do(t, srv, m, "/api/domain/odata/x", nil, nil)
			if resp.StatusCode != http.StatusMethodNotAllowed {
				t.Fatalf("status %d", resp.StatusCode)
			}
			if got := resp.Header.Get("Allow"); got != "GET, HEAD, POST, PUT, PATCH, DELETE" {
				t.Errorf("Allow %q", got)
			}
			var e Error
			if err := json.Unmarshal(body, &e); err != nil || e.Error != "method_not_allowed" {
				t.Errorf("body %s (%v)", body, err)
			}
		})
	}
}

func TestPersons(t *testing.T) {
	srv := start(t)
	resp, raw := do(t, srv, "GET", PersonsPath, nil, http.Header{
		"Authorization":  {"Bearer " + secretToken},
		"X-Auth-Subject": {"svc-sync"},
		"X-Auth-Scope":   {"read"},
	})
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("status %d, Content-Type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if strings.Contains(string(raw), secretToken) {
		t.Fatalf("token in output: %s", raw)
	}
	var got Persons
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&got); err != nil {
		t.Fatal(err)
	}
	want := Persons{
		Context: "$metadata#General_Contacts_Persons",
		Value:   SamplePersons(),
		Auth:    Auth{Subject: "svc-sync", Scope: "read"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("persons\n got %+v\nwant %+v", got, want)
	}
	if len(got.Value) != 3 {
		t.Errorf("%d persons, want 3", len(got.Value))
	}
	if _, err := DecodeEcho(strings.NewReader(string(raw))); err == nil {
		t.Error("DecodeEcho accepted a persons list")
	}

	// Writes to the entity set are echoed like any other OData path.
	resp, raw = do(t, srv, "POST", PersonsPath, strings.NewReader("{}"), nil)
	if resp.StatusCode != 200 {
		t.Fatalf("POST status %d", resp.StatusCode)
	}
	e, err := DecodeEcho(strings.NewReader(string(raw)))
	if err != nil || e.Method != "POST" || e.BodyBytes != 2 {
		t.Fatalf("POST echo %+v, %v", e, err)
	}
}

func TestHTML(t *testing.T) {
	srv := start(t)
	tests := []struct {
		name        string
		method      string
		target      string
		header      http.Header
		wantCode    int
		wantContain []string
		wantAbsent  []string
	}{
		{
			name: "signed in", method: "GET", target: "/api/domain/html/home",
			header:      http.Header{"X-Auth-Subject": {"alice"}, "X-Auth-User-Type": {"internal"}, "X-Request-Id": {"r1"}, "Authorization": {"Bearer " + secretToken}},
			wantCode:    200,
			wantContain: []string{`<strong id="subject">alice</strong>`, "(internal)", `<code id="path">/api/domain/html/home</code>`, `<code id="request-id">r1</code>`},
			wantAbsent:  []string{secretToken},
		},
		{
			name: "subject is escaped", method: "GET", target: "/api/domain/html/x",
			header:      http.Header{"X-Auth-Subject": {`<script>alert("x")</script>`}},
			wantCode:    200,
			wantContain: []string{`<strong id="subject">&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;</strong>`},
			wantAbsent:  []string{"<script>"},
		},
		{
			name: "anonymous", method: "GET", target: "/api/domain/html/",
			wantCode:    200,
			wantContain: []string{`<p id="anonymous">Not signed in</p>`},
			wantAbsent:  []string{`id="subject"`},
		},
		{name: "POST refused", method: "POST", target: "/api/domain/html/x", wantCode: 405},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := do(t, srv, tt.method, tt.target, nil, tt.header)
			if resp.StatusCode != tt.wantCode {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.wantCode)
			}
			if tt.wantCode != 200 {
				return
			}
			if ct := resp.Header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
				t.Errorf("Content-Type %q", ct)
			}
			for _, s := range tt.wantContain {
				if !strings.Contains(string(body), s) {
					t.Errorf("page lacks %q:\n%s", s, body)
				}
			}
			for _, s := range tt.wantAbsent {
				if strings.Contains(string(body), s) {
					t.Errorf("page contains %q:\n%s", s, body)
				}
			}
		})
	}
}

func TestNotFound(t *testing.T) {
	srv := start(t)
	for _, target := range []string{
		"/", "/api", "/api/health/x", "/api/domain/", "/api/domain/odatax", "/api/domain/html",
		"/api/table/x", "/id/connect/token",
	} {
		t.Run(target, func(t *testing.T) {
			resp, body := do(t, srv, "GET", target, nil, nil)
			if resp.StatusCode != http.StatusNotFound {
				t.Fatalf("status %d, want 404", resp.StatusCode)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
			var e Error
			if err := json.Unmarshal(body, &e); err != nil || e.Error != "not_found" {
				t.Errorf("body %s (%v)", body, err)
			}
		})
	}
}

func TestDecodeEchoRejectsOtherBodies(t *testing.T) {
	for _, body := range []string{`{"error":"not_found"}`, `not json`, ``} {
		if _, err := DecodeEcho(strings.NewReader(body)); err == nil {
			t.Errorf("DecodeEcho(%q) succeeded", body)
		}
	}
}

package proxy

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/erpgate/erpgate/dpop"
)

// withIssuer turns protected-resource metadata on, as the gateway does.
func withIssuer(c *Config) { c.Issuer, c.Scheme = testIssuer, "https" }

// TestResourceMetadata: RFC 9728 §3 — the metadata of the resource at
// path P is at /.well-known/oauth-protected-resource + P; its resource
// is the URL the client calls (§3.3) and names the issuer and the scopes
// the routes serving P require.
func TestResourceMetadata(t *testing.T) {
	f := newFixture(t, withIssuer)
	for _, tc := range []struct {
		name, path, resource string
		scopes               []string
	}{
		// domain-read (GET, HEAD) and domain-write (the rest) share the path.
		{"two routes on one path", "/api/domain/odata/Persons", "https://example.com/api/domain/odata/Persons", []string{"read", "update"}},
		{"one route", "/api/table/x", "https://example.com/api/table/x", []string{"read"}},
		{"escapes kept", "/api/table/a%2Fb%20c", "https://example.com/api/table/a%2Fb%20c", []string{"read"}},
		{"the gateway as a whole", "", "https://example.com", []string{"read", "update"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := f.do("GET", ResourceMetadataPath+tc.path, nil)
			if rec.Code != 200 {
				t.Fatalf("status %d: %s", rec.Code, rec.Body)
			}
			if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Errorf("Content-Type %q", ct)
			}
			if got := rec.Header().Get("Access-Control-Allow-Origin"); got != "*" {
				t.Errorf("Access-Control-Allow-Origin %q: clients of any origin read metadata", got)
			}
			var md ResourceMetadata
			if err := json.Unmarshal(rec.Body.Bytes(), &md); err != nil {
				t.Fatal(err)
			}
			want := ResourceMetadata{
				Resource: tc.resource, AuthorizationServers: []string{testIssuer}, ScopesSupported: tc.scopes,
				BearerMethodsSupported: []string{"header"}, DPoPSigningAlgValuesSupported: dpop.AlgorithmNames(),
			}
			if md.Resource != want.Resource || !slices.Equal(md.AuthorizationServers, want.AuthorizationServers) ||
				!slices.Equal(md.ScopesSupported, want.ScopesSupported) || !slices.Equal(md.BearerMethodsSupported, want.BearerMethodsSupported) ||
				!slices.Equal(md.DPoPSigningAlgValuesSupported, want.DPoPSigningAlgValuesSupported) {
				t.Errorf("metadata\n got %+v\nwant %+v", md, want)
			}
		})
	}

	for _, tc := range []struct {
		name, method, path string
		status             int
	}{
		{"public route", "GET", "/api/health", 404},
		{"no route", "GET", "/nowhere", 404},
		{"not canonical", "GET", "/api/table/../domain/x", 404},
		{"a method that changes something", "POST", "/api/table/x", 405},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := f.do(tc.method, ResourceMetadataPath+tc.path, nil)
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.status, rec.Body)
			}
		})
	}
	// A path that only starts like the well-known one is a route's.
	if rec := f.do("GET", ResourceMetadataPath+"-x/api", nil); rec.Code != 404 || errorOf(t, rec) != "not_found" {
		t.Errorf("%s-x: status %d %s", ResourceMetadataPath, rec.Code, rec.Body)
	}
}

// TestResourceMetadataHint: every challenge on a route names the
// request's metadata (RFC 9728 §5.1), whatever the refusal; the URL it
// names serves that request's resource.
func TestResourceMetadataHint(t *testing.T) {
	f := newFixture(t, withIssuer)
	readOnly := f.sign(t, claimsFor("read"))
	expired := claimsFor("read")
	expired.Expiry = testNow.Add(-time.Minute).Unix()
	const path = "/api/domain/odata/Persons"
	hint := `resource_metadata="https://example.com` + ResourceMetadataPath + path + `"`
	for _, tc := range []struct {
		name   string
		method string
		hdr    map[string]string
		status int
		scheme string
	}{
		{"no credentials", "GET", nil, 401, "Bearer"},
		{"not a token", "GET", bearer("garbage"), 401, "Bearer"},
		{"expired", "GET", bearer(f.sign(t, expired)), 401, "Bearer"},
		{"insufficient scope", "POST", bearer(readOnly), 403, "Bearer"},
		{"two credentials", "GET", map[string]string{"Authorization": "Bearer " + readOnly, "X-Api-Key": "x"}, 400, "Bearer"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := f.do(tc.method, path, tc.hdr)
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.status, rec.Body)
			}
			ch := rec.Header().Get("WWW-Authenticate")
			if !strings.HasPrefix(ch, tc.scheme+" ") || !strings.HasSuffix(ch, ", "+hint) {
				t.Errorf("WWW-Authenticate %q, want a %s challenge ending in %s", ch, tc.scheme, hint)
			}
		})
	}

	// The hinted URL serves the metadata of the very resource called.
	rec := f.do("GET", path, nil)
	ch := rec.Header().Get("WWW-Authenticate")
	u := ch[strings.Index(ch, `resource_metadata="`)+len(`resource_metadata="`) : len(ch)-1]
	mrec := f.do("GET", strings.TrimPrefix(u, "https://example.com"), nil)
	var md ResourceMetadata
	if err := json.Unmarshal(mrec.Body.Bytes(), &md); err != nil || md.Resource != "https://example.com"+path {
		t.Errorf("hinted metadata %s: %+v (%v)", u, md, err)
	}

	// No route, no resource: a 404 carries no challenge at all.
	if rec := f.do("GET", "/nowhere", nil); rec.Header().Get("WWW-Authenticate") != "" {
		t.Errorf("no route: WWW-Authenticate %q", rec.Header().Get("WWW-Authenticate"))
	}
	// Forward auth judges the edge's resource, not the gateway's: no hint.
	for _, es := range edgeStyles {
		rec := newFixture(t, func(c *Config) { withIssuer(c); trustEdge(c) }).edgeAsk(es.ask("GET", path), nil)
		if ch := rec.Header().Get("WWW-Authenticate"); strings.Contains(ch, "resource_metadata") {
			t.Errorf("forward auth (%s): WWW-Authenticate %q names the gateway's metadata", es.name, ch)
		}
	}
}

// TestResourceMetadataOff: without an issuer (a proxy built by hand) no
// metadata is served and no challenge names any.
func TestResourceMetadataOff(t *testing.T) {
	f := newFixture(t, nil)
	if rec := f.do("GET", ResourceMetadataPath+"/api/table/x", nil); rec.Code != 404 {
		t.Errorf("metadata served without an issuer: %d", rec.Code)
	}
	if ch := f.do("GET", "/api/table/x", nil).Header().Get("WWW-Authenticate"); strings.Contains(ch, "resource_metadata") {
		t.Errorf("WWW-Authenticate %q", ch)
	}
}

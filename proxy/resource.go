package proxy

import (
	"net/http"
	"slices"
	"strings"

	"github.com/erpgate/erpgate/authority"
	"github.com/erpgate/erpgate/dpop"
)

// ResourceMetadataPath is where OAuth 2.0 Protected Resource Metadata
// (RFC 9728) lives: the metadata of the resource at path P is at this
// path followed by P (§3.1), and of the gateway as a whole at this path
// alone. The path is the gateway's, whatever the routes say.
const ResourceMetadataPath = "/.well-known/oauth-protected-resource"

// resourceMetadataLabel is the route label of metadata requests in the
// metrics; route names cannot contain "/", so it never collides.
const resourceMetadataLabel = ResourceMetadataPath

// ResourceMetadata is the metadata document of one resource (RFC 9728
// §2): what a client needs to get a token the resource takes.
type ResourceMetadata struct {
	// Resource is the resource identifier: the URL the client calls,
	// without query (§1.2). A client that followed a resource_metadata
	// hint checks that it is the URL it called (§3.3).
	Resource string `json:"resource"`
	// AuthorizationServers is the issuer that grants tokens for it.
	AuthorizationServers []string `json:"authorization_servers"`
	// ScopesSupported are the scopes the routes serving the resource
	// require, for some method (RFC 9728 §2: those "used in
	// authorization requests to request access to this protected
	// resource").
	ScopesSupported        []string `json:"scopes_supported,omitempty"`
	BearerMethodsSupported []string `json:"bearer_methods_supported"`
	// DPoPSigningAlgValuesSupported: a token bound to a key (RFC 9449) is
	// presented with a proof signed by one of these.
	DPoPSigningAlgValuesSupported []string `json:"dpop_signing_alg_values_supported"`
}

// resourceMetadataURL is where the metadata of the resource r names is:
// on the origin r was sent to (the host check admitted its Host) with
// the scheme of public_url. "" for a request forward auth judges, whose
// resource is the edge's, not the gateway's.
func (p *Proxy) resourceMetadataURL(r *http.Request, e *edge) string {
	if e != nil || p.cfg.Issuer == "" {
		return ""
	}
	return ResourceMetadataURL(p.cfg.Scheme+"://"+r.Host, r.URL.EscapedPath())
}

// ResourceMetadataURL is where the metadata of the resource at
// escapedPath on origin ("https://host[:port]") is (RFC 9728 §3.1).
func ResourceMetadataURL(origin, escapedPath string) string {
	return origin + ResourceMetadataPath + escapedPath
}

// serveResourceMetadata answers ResourceMetadataPath and the paths under
// it, and reports whether r was one of them.
func (p *Proxy) serveResourceMetadata(w *statusWriter, r *http.Request) bool {
	rest, ok := strings.CutPrefix(r.URL.Path, ResourceMetadataPath)
	if !ok || rest != "" && rest[0] != '/' || p.cfg.Issuer == "" {
		return false
	}
	defer p.count(resourceMetadataLabel, r.Method, w.status())
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		authority.WriteJSONError(w, http.StatusMethodNotAllowed, authority.ErrorBody{Error: "invalid_request", Description: "use GET"})
		return true
	}
	// The resource keeps the path as the client wrote it, escapes and
	// all, so that it is the URL it called (§3.3).
	md, ok := p.resourceMetadata(r, rest, strings.TrimPrefix(r.URL.EscapedPath(), ResourceMetadataPath))
	if !ok {
		authority.WriteJSONError(w, http.StatusNotFound, authority.ErrorBody{Error: "not_found", Description: "no protected resource at this path"})
		return true
	}
	// Public metadata, read by clients of any origin (RFC 9728 §3.1 has
	// no access control on it); it changes only with the routes.
	w.Header().Set("Access-Control-Allow-Origin", "*")
	w.Header().Set("Cache-Control", "public, max-age=300")
	authority.WriteJSON(w, http.StatusOK, md)
	return true
}

// resourceMetadata is the metadata of the resource at path (rawPath
// escaped) on r's origin: the gateway as a whole for "" (every scope any
// route requires), otherwise the routes that protect path
// (policy.Protecting). ok is false for a path no protected route serves.
func (p *Proxy) resourceMetadata(r *http.Request, path, rawPath string) (ResourceMetadata, bool) {
	var scopes []string
	if path == "" {
		for _, rt := range p.cfg.Policy.Routes() {
			scopes = append(scopes, rt.Scopes...)
		}
	} else {
		rs := p.cfg.Policy.Protecting(path)
		if len(rs) == 0 {
			return ResourceMetadata{}, false
		}
		for _, rt := range rs {
			scopes = append(scopes, rt.Scopes...)
		}
	}
	slices.Sort(scopes)
	return ResourceMetadata{
		Resource:                      p.cfg.Scheme + "://" + r.Host + rawPath,
		AuthorizationServers:          []string{p.cfg.Issuer},
		ScopesSupported:               slices.Compact(scopes),
		BearerMethodsSupported:        []string{"header"},
		DPoPSigningAlgValuesSupported: dpop.AlgorithmNames(),
	}, true
}

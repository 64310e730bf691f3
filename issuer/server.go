package issuer

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/erpgate/erpgate/audit"
	"github.com/erpgate/erpgate/metrics"
)

// App is a Trusted Application: a registered OAuth client whose
// client_id is its ApplicationUri.
type App struct {
	ID         string // client_id (ApplicationUri)
	Name       string
	Public     bool   // public apps have no secret
	SecretHash []byte // SHA-256 of the secret; nil for public apps
	// SystemUser, when set, allows client credentials acting as that user.
	SystemUser             string
	Scopes                 []string // what the app may ask for
	RedirectURIs           []string
	PostLogoutRedirectURIs []string
	AllowInternalUsers     bool
	AllowCommunityUsers    bool
	ReferenceTokens        string
	RequirePKCE            bool
	Enabled                bool
}

// User is an account of the instance.
type User struct {
	Login        string
	ID           string // stable opaque id (the "id" claim)
	Name         string
	Email        string
	Type         string // internal, community or system
	Admin        bool
	PasswordHash string // argon2id PHC string
}

// Signer signs tokens and publishes the keys that verify them;
// *signing.Keyring is the implementation.
type Signer interface {
	Sign(typ string, claims any) (string, error)
	JWKS() []byte
	Algorithm() string
}

// Config is everything the identity server needs; cmd/erpgate builds it.
type Config struct {
	// Issuer is the issuer identifier (public_url + "/id"); its path is
	// where the endpoints are mounted.
	Issuer         string
	AccessTokenTTL time.Duration
	Audiences      []string // aud of every access token
	// ScopeAsString writes the scope claim as an RFC 9068 string instead
	// of ERP.net's JSON array.
	ScopeAsString bool
	Apps          []App
	Users         []User
	Signer        Signer
	Clock         func() time.Time
	Logger        *slog.Logger
	Audit         *audit.Logger
	Metrics       *metrics.Metrics
}

// Server is the identity server's HTTP handler.
type Server struct {
	cfg       Config
	prefix    string // URL path of the issuer, e.g. "/id"
	apps      map[string]*App
	users     map[string]*User
	mux       *http.ServeMux
	discovery []byte
}

// New validates cfg and builds the server.
func New(cfg Config) (*Server, error) {
	u, err := url.Parse(cfg.Issuer)
	if err != nil || !u.IsAbs() || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("issuer: %q is not a valid issuer URL", cfg.Issuer)
	}
	if cfg.Signer == nil || cfg.Clock == nil || cfg.Logger == nil || cfg.Metrics == nil {
		return nil, errors.New("issuer: Signer, Clock, Logger and Metrics are required")
	}
	if cfg.AccessTokenTTL <= 0 {
		return nil, errors.New("issuer: AccessTokenTTL must be positive")
	}
	s := &Server{
		cfg:    cfg,
		prefix: strings.TrimSuffix(u.Path, "/"),
		apps:   make(map[string]*App, len(cfg.Apps)),
		users:  make(map[string]*User, len(cfg.Users)),
		mux:    http.NewServeMux(),
	}
	for i := range cfg.Apps {
		a := &cfg.Apps[i]
		if !a.Public && len(a.SecretHash) != sha256.Size {
			return nil, fmt.Errorf("issuer: app %q: secret hash must be %d bytes", a.ID, sha256.Size)
		}
		s.apps[a.ID] = a
	}
	for i := range cfg.Users {
		s.users[cfg.Users[i].Login] = &cfg.Users[i]
	}
	for _, a := range s.apps {
		if a.SystemUser != "" && s.users[a.SystemUser] == nil {
			return nil, fmt.Errorf("issuer: app %q: system user %q is not a user", a.ID, a.SystemUser)
		}
	}
	if s.discovery, err = s.discoveryDocument(); err != nil {
		return nil, err
	}
	s.mux.HandleFunc("GET "+s.prefix+"/.well-known/openid-configuration", s.handleDiscovery)
	s.mux.HandleFunc("GET "+s.prefix+"/.well-known/openid-configuration/jwks", s.handleJWKS)
	s.mux.HandleFunc(s.prefix+"/connect/token", s.handleToken)
	return s, nil
}

// Prefix is the path the server is mounted under (the issuer URL's path).
func (s *Server) Prefix() string { return s.prefix }

// ServeHTTP routes identity-server requests; unknown paths get 404 JSON.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mux.ServeHTTP(w, r)
}

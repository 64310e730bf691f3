package reftoken

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/erpgate/erpgate/audit"
	"github.com/erpgate/erpgate/claims"
	"github.com/erpgate/erpgate/directory"
	"github.com/erpgate/erpgate/internal/loop"
	"github.com/erpgate/erpgate/store"
)

// Prefix starts every reference token.
const Prefix = "enrt_"

// Policies an app's reference_tokens setting may name.
const (
	PolicyNone               = directory.ReferenceTokensNone
	PolicyAuthenticatedUsers = directory.ReferenceTokensAuthenticatedUsers
	PolicyAdministratorsOnly = directory.ReferenceTokensAdministratorsOnly
)

// Errors of Issue and Check.
var (
	ErrNotAllowed = errors.New("reftoken: not allowed")
	ErrInvalid    = errors.New("reftoken: invalid, expired or revoked reference token")
	ErrBadRequest = errors.New("reftoken: bad request")
)

// Directory resolves apps and users (*directory.Table).
type Directory interface {
	App(id string) *directory.App
	User(login string) *directory.User
}

// Revocations is the shared revocation list; a reference token is put on
// it under RevocationID(id).
type Revocations interface {
	Revoke(ctx context.Context, jti string, expiresAt time.Time) error
	Revoked(jti string) bool
}

// RevocationID is the revocation-list entry of a reference token.
func RevocationID(id string) string { return "enrt:" + id }

// Config configures a Service.
type Config struct {
	Store       store.ReferenceTokens
	Directory   Directory
	Revocations Revocations
	Issuer      string
	Audiences   []string
	// Database is instance.database: db (PAT) or client_db (SAT), as in
	// the issuer's JWTs; "" for none.
	Database    string
	MaxLifetime time.Duration // longest expiry allowed at issue
	TouchEvery  time.Duration // how often last-used times are written
	CacheSize   int
	Clock       func() time.Time
	Logger      *slog.Logger
	Audit       *audit.Logger
}

// Service issues, lists, revokes and checks reference tokens.
type Service struct {
	cfg Config

	mu      sync.RWMutex
	cache   map[string]store.ReferenceToken // by hash; never holds revoked or expired ones long
	touched map[string]time.Time            // id -> last use, not yet written
}

// New returns a Service.
func New(cfg Config) (*Service, error) {
	if cfg.Store == nil || cfg.Directory == nil || cfg.Revocations == nil || cfg.Clock == nil || cfg.Logger == nil {
		return nil, errors.New("reftoken: Store, Directory, Revocations, Clock and Logger are required")
	}
	if cfg.MaxLifetime <= 0 {
		cfg.MaxLifetime = 366 * 24 * time.Hour
	}
	if cfg.TouchEvery <= 0 {
		cfg.TouchEvery = 5 * time.Second
	}
	return &Service{cfg: cfg, cache: map[string]store.ReferenceToken{}, touched: map[string]time.Time{}}, nil
}

// IssueRequest asks for a new token.
type IssueRequest struct {
	Type      string // store.PersonalAccessToken or store.ServiceAccessToken
	ClientID  string
	Subject   string // the user, for a PAT
	Scopes    []string
	ExpiresIn time.Duration
	// Actor is who asks: a login, or "" for the CLI (an operator with
	// access to the store, treated as an administrator).
	Actor string
	// Name and Description say what the token is for (optional here;
	// the account page requires a name): at most MaxNameLength and
	// MaxDescriptionLength characters of text, surrounding spaces
	// trimmed, no control characters.
	Name, Description string
}

// Longest name and description of a token, in characters.
const (
	MaxNameLength        = 64
	MaxDescriptionLength = 256
)

// CheckText trims a token's name or description and checks it: valid
// UTF-8, no control characters, at most max characters. what names it in
// the error.
func CheckText(what, v string, max int) (string, error) {
	v = strings.TrimSpace(v)
	switch {
	case !utf8.ValidString(v) || strings.ContainsFunc(v, unicode.IsControl):
		return v, fmt.Errorf("%w: the %s must be plain text on one line", ErrBadRequest, what)
	case utf8.RuneCountInString(v) > max:
		return v, fmt.Errorf("%w: the %s must be at most %d characters", ErrBadRequest, what, max)
	}
	return v, nil
}

// Issued is a new token: its value is shown once and never again.
type Issued struct {
	Value string
	Token store.ReferenceToken
}

// Issue checks the app's reference_tokens policy and stores a new token.
func (s *Service) Issue(ctx context.Context, req IssueRequest) (Issued, error) {
	app := s.cfg.Directory.App(req.ClientID)
	if app == nil || !app.Enabled {
		return Issued{}, fmt.Errorf("%w: unknown application %q", ErrBadRequest, req.ClientID)
	}
	actorAdmin := req.Actor == ""
	if !actorAdmin {
		u := s.cfg.Directory.User(req.Actor)
		actorAdmin = u != nil && u.Admin
	}
	switch app.ReferenceTokens {
	case PolicyAuthenticatedUsers, PolicyAdministratorsOnly:
	default:
		return Issued{}, fmt.Errorf("%w: application %q does not allow reference tokens", ErrNotAllowed, app.ID)
	}
	name, err := CheckText("name", req.Name, MaxNameLength)
	if err != nil {
		return Issued{}, err
	}
	description, err := CheckText("description", req.Description, MaxDescriptionLength)
	if err != nil {
		return Issued{}, err
	}
	now := s.cfg.Clock()
	t := store.ReferenceToken{Type: req.Type, ClientID: app.ID, CreatedAt: now, CreatedBy: req.Actor,
		Name: name, Description: description}
	if t.CreatedBy == "" {
		t.CreatedBy = "cli"
	}
	switch req.Type {
	case store.PersonalAccessToken:
		if app.ReferenceTokens == PolicyAdministratorsOnly && !actorAdmin {
			return Issued{}, fmt.Errorf("%w: only administrators may issue tokens for %q", ErrNotAllowed, app.ID)
		}
		if req.Subject == "" {
			req.Subject = req.Actor
		}
		if req.Subject != req.Actor && !actorAdmin {
			return Issued{}, fmt.Errorf("%w: users may issue personal tokens only for themselves", ErrNotAllowed)
		}
		u := s.cfg.Directory.User(req.Subject)
		if u == nil || u.Type == directory.TypeSystem {
			return Issued{}, fmt.Errorf("%w: %q is not a user who can hold a personal token", ErrBadRequest, req.Subject)
		}
		if !app.AllowsUserType(u.Type) {
			return Issued{}, fmt.Errorf("%w: %s users may not use %q", ErrNotAllowed, u.Type, app.ID)
		}
		t.Subject = u.Login
	case store.ServiceAccessToken:
		if !actorAdmin {
			return Issued{}, fmt.Errorf("%w: only administrators may issue service tokens", ErrNotAllowed)
		}
		if app.SystemUser == "" {
			return Issued{}, fmt.Errorf("%w: application %q has no system user", ErrBadRequest, app.ID)
		}
		t.Subject = app.SystemUser
	default:
		return Issued{}, fmt.Errorf("%w: type must be pat or sat", ErrBadRequest)
	}
	if len(req.Scopes) == 0 {
		req.Scopes = app.Scopes
	}
	for _, sc := range req.Scopes {
		if !slices.Contains(app.Scopes, sc) {
			return Issued{}, fmt.Errorf("%w: scope %q is not allowed for %q", ErrBadRequest, sc, app.ID)
		}
	}
	t.Scopes = slices.Clone(req.Scopes)
	if req.ExpiresIn <= 0 || req.ExpiresIn > s.cfg.MaxLifetime {
		return Issued{}, fmt.Errorf("%w: expiry must be between 1s and %s", ErrBadRequest, s.cfg.MaxLifetime)
	}
	t.ExpiresAt = now.Add(req.ExpiresIn).Truncate(time.Millisecond)
	value := newValue()
	t.Hash = Hash(value)
	t.ID = newID()
	if err := s.cfg.Store.SaveReferenceToken(ctx, t); err != nil {
		return Issued{}, err
	}
	s.cfg.Audit.Log(ctx, audit.Event{
		Name: audit.ReferenceTokenIssued, ClientID: t.ClientID, Subject: t.Subject,
		Attrs: []slog.Attr{slog.String("token_id", t.ID), slog.String("type", t.Type), slog.String("created_by", t.CreatedBy)},
	})
	return Issued{Value: value, Token: t}, nil
}

// List returns tokens, subject "" for all.
func (s *Service) List(ctx context.Context, subject string) ([]store.ReferenceToken, error) {
	return s.cfg.Store.ReferenceTokens(ctx, subject)
}

// Revoke revokes the token with id; actor "" is the CLI. A non-admin may
// revoke only their own personal tokens.
func (s *Service) Revoke(ctx context.Context, id, actor string) (store.ReferenceToken, error) {
	t, err := s.cfg.Store.ReferenceToken(ctx, id)
	if err != nil {
		return t, err
	}
	if actor != "" {
		u := s.cfg.Directory.User(actor)
		if (u == nil || !u.Admin) && (t.Type != store.PersonalAccessToken || t.Subject != actor) {
			return t, fmt.Errorf("%w: not your token", ErrNotAllowed)
		}
	}
	now := s.cfg.Clock()
	t, err = s.cfg.Store.RevokeReferenceToken(ctx, id, now)
	if err != nil {
		return t, err
	}
	if err := s.cfg.Revocations.Revoke(ctx, RevocationID(id), t.ExpiresAt); err != nil {
		return t, err
	}
	s.mu.Lock()
	delete(s.cache, t.Hash)
	s.mu.Unlock()
	by := actor
	if by == "" {
		by = "cli"
	}
	s.cfg.Audit.Log(ctx, audit.Event{
		Name: audit.ReferenceTokenRevoked, ClientID: t.ClientID, Subject: t.Subject,
		Attrs: []slog.Attr{slog.String("token_id", t.ID), slog.String("revoked_by", by)},
	})
	return t, nil
}

// Check resolves a presented token to the claims it acts with, and
// records the use. The hot path is a cache hit and a revocation-list
// lookup: no store access.
func (s *Service) Check(ctx context.Context, value string) (*claims.Access, store.ReferenceToken, error) {
	return s.check(ctx, value, true)
}

// Inspect is Check without recording a use (for introspection).
func (s *Service) Inspect(ctx context.Context, value string) (*claims.Access, store.ReferenceToken, error) {
	return s.check(ctx, value, false)
}

func (s *Service) check(ctx context.Context, value string, use bool) (*claims.Access, store.ReferenceToken, error) {
	if !WellFormed(value) {
		return nil, store.ReferenceToken{}, ErrInvalid
	}
	hash := Hash(value)
	s.mu.RLock()
	t, ok := s.cache[hash]
	s.mu.RUnlock()
	if !ok {
		var err error
		t, err = s.cfg.Store.ReferenceTokenByHash(ctx, hash)
		if errors.Is(err, store.ErrNotFound) {
			return nil, t, ErrInvalid
		}
		if err != nil {
			return nil, t, err
		}
		s.mu.Lock()
		if len(s.cache) >= s.cfg.CacheSize && s.cfg.CacheSize > 0 {
			for k := range s.cache {
				delete(s.cache, k)
				break
			}
		}
		if s.cfg.CacheSize > 0 {
			s.cache[hash] = t
		}
		s.mu.Unlock()
	}
	now := s.cfg.Clock()
	if !t.RevokedAt.IsZero() || !now.Before(t.ExpiresAt) || s.cfg.Revocations.Revoked(RevocationID(t.ID)) {
		return nil, t, ErrInvalid
	}
	c, err := s.claimsOf(t)
	if err != nil {
		return nil, t, err
	}
	if use {
		s.mu.Lock()
		s.touched[t.ID] = now
		s.mu.Unlock()
	}
	return c, t, nil
}

// claimsOf builds the identity a token acts with; its session is keyed
// per reference token.
func (s *Service) claimsOf(t store.ReferenceToken) (*claims.Access, error) {
	c := &claims.Access{
		Issuer: s.cfg.Issuer, Audience: s.cfg.Audiences, IssuedAt: t.CreatedAt.Unix(), NotBefore: t.CreatedAt.Unix(),
		Expiry: t.ExpiresAt.Unix(), ID: RevocationID(t.ID), Scope: claims.Scopes{Values: t.Scopes},
		ClientID: t.ClientID, SessionID: "enrt-" + t.ID,
	}
	if t.Type == store.ServiceAccessToken {
		c.ClientSystemUser, c.ClientDatabase = t.Subject, s.cfg.Database
		if u := s.cfg.Directory.User(t.Subject); u != nil {
			c.ClientSystemUserType, c.ClientSystemUserID = u.ClaimType(), u.ID
		}
		c.Prepare()
		return c, nil
	}
	c.Subject = t.Subject
	u := s.cfg.Directory.User(t.Subject)
	if u == nil {
		// The credential authority refuses it (user_unknown), as it does
		// a JWT of a removed user.
		c.Prepare()
		return c, nil
	}
	c.Subject, c.UserID, c.Name, c.Email, c.UserType = u.Login, u.ID, u.Name, u.Email, u.ClaimType()
	c.Locale, c.Database = u.Locale, s.cfg.Database
	if u.Email != "" {
		verified := u.EmailVerified
		c.EmailVerified = &verified
	}
	admin := u.Admin
	c.IsAdmin = &admin
	c.Prepare()
	return c, nil
}

// Token states as List's callers show them.
const (
	StateActive          = "active"
	StateRevoked         = "revoked"
	StateExpired         = "expired"
	StateAppDisabled     = "app disabled"           // the kill switch; comes back when enabled
	StateAppGone         = "app removed"            // no such app any more
	StatePolicyForbids   = "app allows no tokens"   // reference_tokens: none
	StateHolderGone      = "user removed"           // a PAT's user, or a SAT's system user
	StateHolderForbidden = "user no longer allowed" // the app no longer lets the holder in
)

// State is what a call with t would meet right now: the same rules the
// credential authority applies, read from the directory, so `tokens list`
// and the admin API never show a refused token as active.
func (s *Service) State(t store.ReferenceToken) string {
	now := s.cfg.Clock()
	switch {
	case !t.RevokedAt.IsZero() || s.cfg.Revocations.Revoked(RevocationID(t.ID)):
		return StateRevoked
	case !now.Before(t.ExpiresAt):
		return StateExpired
	}
	app := s.cfg.Directory.App(t.ClientID)
	switch {
	case app == nil:
		return StateAppGone
	case !app.Enabled:
		return StateAppDisabled
	case !app.AllowsReferenceTokens():
		return StatePolicyForbids
	}
	u := s.cfg.Directory.User(t.Subject)
	switch {
	case u == nil:
		return StateHolderGone
	case t.Type == store.ServiceAccessToken && app.SystemUser != t.Subject,
		t.Type == store.PersonalAccessToken && !app.AllowsUserType(u.Type):
		return StateHolderForbidden
	}
	return StateActive
}

// Flush writes the collected last-used times in one batch.
func (s *Service) Flush(ctx context.Context) error {
	s.mu.Lock()
	batch := s.touched
	s.touched = map[string]time.Time{}
	s.mu.Unlock()
	if len(batch) == 0 {
		return nil
	}
	return s.cfg.Store.TouchReferenceTokens(ctx, batch)
}

// Run flushes last-used times every TouchEvery until ctx ends, then once
// more.
func (s *Service) Run(ctx context.Context) {
	flush := func(ctx context.Context) {
		if err := s.Flush(ctx); err != nil {
			s.cfg.Logger.Warn("flush reference token use", "err", err)
		}
	}
	loop.Every(ctx, s.cfg.TouchEvery, flush)
	flush(context.WithoutCancel(ctx))
}

// Hash is how a token value is stored and looked up.
func Hash(value string) string {
	sum := sha256.Sum256([]byte(value))
	return hex.EncodeToString(sum[:])
}

// WellFormed reports whether value looks like a reference token:
// "enrt_" and 64 upper-case hex digits.
func WellFormed(value string) bool {
	if len(value) != len(Prefix)+64 || !strings.HasPrefix(value, Prefix) {
		return false
	}
	for i := len(Prefix); i < len(value); i++ {
		c := value[i]
		if !(c >= '0' && c <= '9' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

func newValue() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return Prefix + strings.ToUpper(hex.EncodeToString(b[:]))
}

func newID() string {
	var b [9]byte
	_, _ = rand.Read(b[:])
	return "rt_" + hex.EncodeToString(b[:])
}

// Authenticate is Check for the proxy: the claims a valid token acts with.
func (s *Service) Authenticate(ctx context.Context, value string) (*claims.Access, error) {
	c, _, err := s.Check(ctx, value)
	return c, err
}

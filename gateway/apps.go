package gateway

import (
	"context"
	"encoding/base64"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/erpgate/erpgate/admin"
	"github.com/erpgate/erpgate/config"
	"github.com/erpgate/erpgate/directory"
	"github.com/erpgate/erpgate/store"
)

// appRegistry implements admin.Apps: run-time apps live in the store,
// are validated by the config file's rules, and reach the directory at
// once (Sync) and other processes by their app sync. A change that takes
// something away (the kill switch) is enforced at once.
type appRegistry struct {
	file      *config.File
	store     store.Apps
	directory *directory.Table
	clock     func() time.Time
	enforce   func(context.Context, directory.Changes)
}

var _ admin.Apps = (*appRegistry)(nil)

func (a *appRegistry) List(ctx context.Context) ([]admin.AppInfo, error) {
	var out []admin.AppInfo
	for _, c := range a.file.Apps {
		rec, err := c.Record()
		if err != nil {
			return nil, err
		}
		out = append(out, admin.ViewOf(rec, "config"))
	}
	if a.file.AdminUI.Enabled {
		out = append(out, admin.ViewOf(consoleApp(a.file), admin.SourceBuiltIn)) // adminui.go
	}
	stored, err := a.store.Apps(ctx)
	if err != nil {
		return nil, err
	}
	for _, s := range stored {
		out = append(out, admin.ViewOf(s, "store"))
	}
	return out, nil
}

func (a *appRegistry) Create(ctx context.Context, c config.App) (admin.AppInfo, string, error) {
	secret := ""
	if c.Type != config.AppPublic {
		secret = NewClientSecret()
		c.SecretHash = SecretHash(secret)
	}
	if probs := config.CheckApp(a.file, &c); len(probs) > 0 {
		inv := &admin.InvalidError{}
		for _, p := range probs {
			inv.Problems = append(inv.Problems, p.String())
		}
		return admin.AppInfo{}, "", inv
	}
	if a.directory.App(c.URI) != nil {
		return admin.AppInfo{}, "", admin.ErrConflict
	}
	now := a.clock().Truncate(time.Millisecond)
	s, err := c.Record()
	if err != nil {
		return admin.AppInfo{}, "", err
	}
	s.CreatedAt, s.UpdatedAt = now, now
	if err := a.store.CreateApp(ctx, s); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return admin.AppInfo{}, "", admin.ErrConflict
		}
		return admin.AppInfo{}, "", err
	}
	return admin.ViewOf(s, "store"), secret, a.directory.Sync(ctx)
}

func (a *appRegistry) SetEnabled(ctx context.Context, uri string, enabled bool) (admin.AppInfo, error) {
	s, err := a.change(ctx, uri, func(s *directory.App) error { s.Enabled = enabled; return nil })
	return admin.ViewOf(s, "store"), err
}

func (a *appRegistry) RotateSecret(ctx context.Context, uri string) (admin.AppInfo, string, error) {
	secret := NewClientSecret()
	s, err := a.change(ctx, uri, func(s *directory.App) error {
		if s.Public {
			return &admin.InvalidError{Problems: []string{"app.type: public apps have no secret"}}
		}
		s.SecretHash = rawSecretHash(secret)
		return nil
	})
	if err != nil {
		return admin.AppInfo{}, "", err
	}
	return admin.ViewOf(s, "store"), secret, nil
}

// change applies edit to a stored app and makes it effective: in this
// process at once (the directory, and ending what the change takes
// away), in others within a second (their app sync refuses the app's
// tokens; the sessions were ended here, in the store).
func (a *appRegistry) change(ctx context.Context, uri string, edit func(*directory.App) error) (directory.App, error) {
	if a.directory.ConfigApp(uri) {
		return directory.App{}, admin.ErrConfigApp
	}
	s, err := a.store.App(ctx, uri)
	if errors.Is(err, store.ErrNotFound) {
		return s, admin.ErrNotFound
	}
	if err != nil {
		return s, err
	}
	old := s
	if err := edit(&s); err != nil {
		return s, err
	}
	s.UpdatedAt = a.clock().Truncate(time.Millisecond)
	if err := a.store.UpdateApp(ctx, s); err != nil {
		return s, err
	}
	if err := a.directory.Sync(ctx); err != nil {
		return s, err
	}
	a.enforce(ctx, directory.Changes{Apps: []directory.Change[directory.App]{{Old: &old, New: &s}}})
	return s, nil
}

// Update edits a stored app by the rules of Create: the change is
// applied to the app in the config file's form and checked as a new app
// would be, so an edit cannot store what Create would refuse.
func (a *appRegistry) Update(ctx context.Context, uri string, ch admin.AppChange) (admin.AppInfo, error) {
	s, err := a.change(ctx, uri, func(s *directory.App) error {
		c := configForm(*s)
		ch.Apply(&c)
		if probs := config.CheckApp(a.file, &c); len(probs) > 0 {
			inv := &admin.InvalidError{}
			for _, p := range probs {
				inv.Problems = append(inv.Problems, p.String())
			}
			return inv
		}
		rec, err := c.Record()
		if err != nil {
			return err
		}
		rec.CreatedAt, rec.Enabled = s.CreatedAt, s.Enabled // the kill switch is SetEnabled's
		*s = rec
		return nil
	})
	if err != nil {
		return admin.AppInfo{}, err
	}
	return admin.ViewOf(s, "store"), nil
}

// configForm is a stored app in the config file's form, which CheckApp
// judges (the inverse of config.App.Record).
func configForm(s directory.App) config.App {
	typ := config.AppConfidential
	hash := ""
	if s.Public {
		typ = config.AppPublic
	} else {
		hash = base64.StdEncoding.EncodeToString(s.SecretHash)
	}
	consent := config.ConsentImplicit
	if s.ConsentRequired {
		consent = config.ConsentRequired
	}
	dpopPolicy := config.DPoPOptional
	if s.DPoPRequired {
		dpopPolicy = config.DPoPRequired
	}
	mfaPolicy := config.MFAOptional
	if s.MFARequired {
		mfaPolicy = config.MFARequired
	}
	internal, community, pkce, enabled, local := s.AllowInternalUsers, s.AllowCommunityUsers, s.RequirePKCE, s.Enabled, !s.NoLocalPasswords
	return config.App{
		URI: s.ID, Name: s.Name, Type: typ, SecretHash: hash, SystemUser: s.SystemUser,
		Scope: strings.Join(s.Scopes, " "), RedirectURIs: slices.Clone(s.RedirectURIs),
		PostLogoutRedirectURIs: slices.Clone(s.PostLogoutRedirectURIs),
		AllowInternalUsers:     &internal, AllowCommunityUsers: &community,
		ReferenceTokens: s.ReferenceTokens, Consent: consent, DPoP: dpopPolicy, MFA: mfaPolicy, RequirePKCE: &pkce, Enabled: &enabled,
		BackchannelLogoutURI: s.BackchannelLogoutURI, BackchannelLogoutSessionRequired: s.BackchannelLogoutSID,
		TokenExchange: s.TokenExchange,

		IdentityProviders: slices.Clone(s.IdentityProviders), LocalPasswords: &local,
	}
}

package main

import (
	"log/slog"
	"net/http"
	"slices"

	"github.com/erpgate/erpgate/admin"
	"github.com/erpgate/erpgate/audit"
	"github.com/erpgate/erpgate/config"
)

// newAdminAPI builds the /admin/ JSON API (SPEC §7) from f.
func newAdminAPI(f *config.File, v admin.TokenVerifier, s admin.Sessions, apps admin.Apps, tokens admin.Tokens, logger *slog.Logger, a *audit.Logger) (http.Handler, error) {
	return admin.New(admin.Config{
		Verifier: v, Audiences: f.Tokens.Audiences, SecApps: secApps(f),
		Sessions: s, Apps: apps, Tokens: tokens, Logger: logger, Audit: a,
	})
}

// secApps are the apps whose client-credentials tokens may use the admin
// API: enabled, with a system user and the sec scope.
func secApps(f *config.File) []string {
	var ids []string
	for _, a := range f.Apps {
		if a.IsEnabled() && a.SystemUser != "" && slices.Contains(a.Scopes(), config.ScopeSec) {
			ids = append(ids, a.URI)
		}
	}
	return ids
}

package gateway

import (
	"log/slog"
	"net/http"

	"github.com/erpgate/erpgate/admin"
	"github.com/erpgate/erpgate/audit"
	"github.com/erpgate/erpgate/config"
)

// newAdminAPI builds the /admin/ JSON API (SPEC §7) from f.
func newAdminAPI(f *config.File, auth admin.Authenticator, s admin.Sessions, apps admin.Apps, tokens admin.Tokens, logger *slog.Logger, a *audit.Logger) (http.Handler, error) {
	return admin.New(admin.Config{
		Authority: auth, Audiences: f.Tokens.Audiences,
		Sessions: s, Apps: apps, Tokens: tokens, Logger: logger, Audit: a,
	})
}

package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/erpgate/erpgate/admin"
	"github.com/erpgate/erpgate/audit"
	"github.com/erpgate/erpgate/config"
	"github.com/erpgate/erpgate/directory"
	gw "github.com/erpgate/erpgate/gateway"
	"github.com/erpgate/erpgate/issuer"
	"github.com/erpgate/erpgate/signing"
)

const adminTokenDetails = `Prints an access token for the admin API (Authorization: Bearer) on the
admin listener: a client-credentials token of --app, acting as its system
user, with scope sec, signed with the signing key in the config's store,
as the identity server would issue it. The app must have a system user
and scope sec; without --app the only such app is taken. The token is
audited as token.issued (grant_type admin_cli). --ttl is at most
tokens.access_token_ttl.

  TOKEN=$(erpgate admin token --config erpgate.yaml --ttl 10m)
  curl -H "Authorization: Bearer $TOKEN" http://127.0.0.1:9090/admin/sessions`

// adminTokenCommand is `erpgate admin token`.
func adminTokenCommand(fs *flag.FlagSet) runFunc {
	path := configFlag(fs)
	ttl := durationVar(fs, "ttl", 10*time.Minute, "how long the token is valid")
	appID := fs.String("app", "", "the Trusted App (`URI`) whose system user the token acts as")
	return func(ctx context.Context, _ []string, e env) error {
		f, err := loadConfig(configPath(*path, e), e)
		if err != nil {
			return err
		}
		if *ttl <= 0 || *ttl > f.Tokens.AccessTokenTTL.D() {
			return fmt.Errorf("--ttl %s: want more than 0 and at most tokens.access_token_ttl (%s), the longest a signing key outlives its tokens", config.Duration(*ttl), f.Tokens.AccessTokenTTL)
		}
		if f.Store.Driver == config.DriverMemory {
			return fmt.Errorf("store.driver memory keeps the signing keys inside the running gateway; get a token from its token endpoint")
		}
		st, shared, err := openGatewayStore(ctx, f.Store)
		if err != nil {
			return err
		}
		defer st.Close()
		dir, err := gw.OpenDirectory(ctx, f, st, time.Now)
		if err != nil {
			return err
		}
		app, user, err := adminApp(dir, *appID)
		if err != nil {
			return err
		}
		keys, err := signing.Open(ctx, signing.Config{
			Algorithm: f.Signing.Algorithm, RotateEvery: f.Signing.RotateEvery.D(), MaxTokenTTL: f.Tokens.AccessTokenTTL.D(),
			Store: st, Lock: shared.LockKeys, Clock: time.Now, Logger: newLogger(f.Log, e.stderr),
		})
		if err != nil {
			return err
		}
		tc := issuer.TokenClaims{Issuer: f.Issuer(), Audiences: f.Tokens.Audiences, TTL: *ttl,
			ScopeAsString: f.Tokens.ScopeFormat == "string", Database: f.Instance.DatabaseName()}
		c := tc.SystemAccess(time.Now(), app, []string{admin.ScopeSec}, user)
		tok, err := keys.Sign(signing.TypeAccessToken, c)
		if err != nil {
			return err
		}
		logger := newLogger(f.Log, e.stderr)
		// Audit lines meant for stdout go to stderr: stdout is the token.
		al, err := openAuditLog(f.Log, e.stderr, e.stderr, logger)
		if err != nil {
			return err
		}
		defer al.close()
		al.Log(ctx, audit.Event{
			Name: audit.TokenIssued, ClientID: app.ID, Subject: user.Login, Session: c.SessionID, Reason: "admin_cli",
			Attrs: []slog.Attr{slog.String("grant_type", "admin_cli"), slog.String("token_hash", audit.TokenHash(tok)),
				slog.String("expires_in", config.Duration(*ttl).String())},
		})
		_, err = fmt.Fprintln(e.stdout, tok)
		return err
	}
}

// adminApp is the app an admin token is for: id, or the only app with a
// system user and scope sec.
func adminApp(dir *directory.Table, id string) (*directory.App, *directory.User, error) {
	var candidates []*directory.App
	for _, a := range dir.Apps() {
		if a.Enabled && a.SystemUser != "" && a.Grants(admin.ScopeSec) && (id == "" || a.ID == id) {
			candidates = append(candidates, a)
		}
	}
	switch {
	case id != "" && len(candidates) == 0:
		return nil, nil, fmt.Errorf("--app %q: no enabled app of that uri has a system user and scope sec", id)
	case len(candidates) == 0:
		return nil, nil, fmt.Errorf("no app has a system user and scope sec; give one (apps[].system_user, scope: sec) or pass --app")
	case len(candidates) > 1:
		ids := make([]string, len(candidates))
		for i, a := range candidates {
			ids[i] = a.ID
		}
		slices.Sort(ids)
		return nil, nil, fmt.Errorf("several apps may act with scope sec (%s); choose one with --app", strings.Join(ids, ", "))
	}
	app := candidates[0]
	user := dir.User(app.SystemUser)
	if user == nil || user.Type != directory.TypeSystem {
		return nil, nil, fmt.Errorf("app %q: its system user %q does not exist", app.ID, app.SystemUser)
	}
	return app, user, nil
}

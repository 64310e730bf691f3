package issuer

import (
	"github.com/erpgate/erpgate/directory"
	"github.com/erpgate/erpgate/webui"
)

// userMayUse applies the app's user-type rules (ERP.net Trusted App
// settings): why u may not sign in to app, or a zero Text. Its English
// (Lang "en") is the error_description sent to the app.
func userMayUse(u *directory.User, app *directory.App) webui.Text {
	switch {
	case u == nil:
		return webui.Msg("usertype.gone")
	case u.Type == "system":
		return webui.Msg("usertype.system")
	case u.Type == "community" && !app.AllowCommunityUsers:
		return webui.Msg("usertype.community")
	case u.Type != "community" && !app.AllowInternalUsers:
		return webui.Msg("usertype.internal")
	}
	return webui.Text{}
}

// english is t for an OAuth error_description, which is for developers.
func english(t webui.Text) string { return webui.Language("en").Say(t) }

package config

import (
	"encoding/base64"
	"fmt"

	"github.com/erpgate/erpgate/directory"
)

// Record is the app as the directory keeps it, with the defaults
// applied. A File returned by Parse never makes it fail.
func (a App) Record() (directory.App, error) {
	r := directory.App{
		ID:                     a.URI,
		Name:                   a.Name,
		Public:                 a.IsPublic(),
		SystemUser:             a.SystemUser,
		Scopes:                 a.Scopes(),
		RedirectURIs:           a.RedirectURIs,
		PostLogoutRedirectURIs: a.PostLogoutRedirectURIs,
		AllowInternalUsers:     a.InternalUsersAllowed(),
		AllowCommunityUsers:    a.CommunityUsersAllowed(),
		ReferenceTokens:        a.ReferenceTokens,
		RequirePKCE:            a.PKCERequired(),
		ConsentRequired:        a.Consent == ConsentRequired,
		DPoPRequired:           a.DPoP == DPoPRequired,
		MFARequired:            a.MFA == MFARequired,
		BackchannelLogoutURI:   a.BackchannelLogoutURI,
		BackchannelLogoutSID:   a.BackchannelLogoutSessionRequired,
		TokenExchange:          a.TokenExchange,
		Enabled:                a.IsEnabled(),
		IdentityProviders:      a.IdentityProviders,
		NoLocalPasswords:       !a.LocalPasswordsAllowed(),
	}
	if !r.Public {
		h, err := base64.StdEncoding.DecodeString(a.SecretHash)
		if err != nil {
			return directory.App{}, fmt.Errorf("secret_hash: %w", err)
		}
		r.SecretHash = h
	}
	return r, nil
}

// Record is the user as the directory keeps it.
func (u User) Record() directory.User {
	return directory.User{
		Login: u.Login, ID: directory.StableUserID(u.Login), Name: u.Name, Email: u.Email,
		EmailVerified: u.EmailVerified, Locale: u.Locale, MFARequired: u.MFARequired,
		Type: u.Type, Admin: u.Admin, PasswordHash: u.PasswordHash, Disabled: !u.IsEnabled(),
	}
}

// Directory returns the file's apps and users as directory records.
func (f *File) Directory() ([]directory.App, []directory.User, error) {
	apps := make([]directory.App, 0, len(f.Apps))
	for i, a := range f.Apps {
		r, err := a.Record()
		if err != nil {
			return nil, nil, fmt.Errorf("apps[%d].%w", i, err)
		}
		apps = append(apps, r)
	}
	users := make([]directory.User, 0, len(f.Users))
	for _, u := range f.Users {
		users = append(users, u.Record())
	}
	return apps, users, nil
}

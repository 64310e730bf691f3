package main

import (
	"github.com/erpgate/erpgate/issuer"
	"github.com/erpgate/erpgate/reftoken"
)

// directory adapts the issuer's app and user tables to what the
// reference-token service needs.
type directory struct {
	app  func(id string) *issuer.App
	user func(login string) *issuer.User
}

func (d directory) App(id string) (reftoken.App, bool) {
	a := d.app(id)
	if a == nil || !a.Enabled {
		return reftoken.App{}, false
	}
	out := reftoken.App{
		ID: a.ID, Policy: a.ReferenceTokens, SystemUser: a.SystemUser, Scopes: a.Scopes,
		InternalAllowed: a.AllowInternalUsers, CommunityAllowed: a.AllowCommunityUsers,
	}
	if u := d.user(a.SystemUser); u != nil {
		out.SystemUserType = u.Type
	}
	return out, true
}

func (d directory) User(login string) (reftoken.User, bool) {
	u := d.user(login)
	if u == nil {
		return reftoken.User{}, false
	}
	return reftoken.User{Login: u.Login, ID: u.ID, Name: u.Name, Email: u.Email, Type: u.Type, Admin: u.Admin}, true
}

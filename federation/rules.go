package federation

import (
	"strings"
)

// Rules decide what becomes of a person signing in through a provider
// for the first time, when no stored link names a local user for them
// (config identity_providers[].users, SPEC §10).
type Rules struct {
	// InternalDomains: a verified email in one of these domains makes an
	// internal user. An unverified address decides nothing: anyone can
	// type one at most providers.
	InternalDomains []string
	// Others is what becomes of everyone else: OthersCommunity or
	// OthersRefuse ("" is OthersRefuse).
	Others string
	// Groups the provider asserts (Identity.Groups): a member of an
	// admin group is an internal administrator, of an internal group an
	// internal user, of a community group a community user, in that
	// order and before the domains. A name matches a group that is equal
	// to it or, for an LDAP DN, whose first RDN's value is, ignoring case
	// ("erp-admins" matches "cn=ERP-Admins,ou=groups,dc=example,dc=com").
	AdminGroups, InternalGroups, CommunityGroups []string
	// LinkExisting: LinkByVerifiedEmail links the person to the existing
	// local user whose email equals their verified email; LinkNever (or
	// "") never links to an existing user.
	LinkExisting string
}

// Values of Rules.Others and Rules.LinkExisting.
const (
	OthersCommunity     = "community"
	OthersRefuse        = "refuse"
	LinkByVerifiedEmail = "by_verified_email"
	LinkNever           = "never"
)

// What a Decision does.
const (
	DecideRefuse = iota
	DecideLink   // link to the existing user Login
	DecideCreate // create the user Login, of Type, Admin
)

// Reasons of a refusal (Decision.Reason); the issuer's audit reasons are
// "idp_" + these.
const (
	RefuseEmailUnverified = "email_unverified" // an existing user has the email, which the provider did not verify
	RefuseByRules         = "user_refused"     // the rules admit nobody like them
	RefuseLoginTaken      = "login_taken"      // a local user has the login and the rules do not link to it
	RefuseNoLogin         = "no_login"         // the provider asserted neither a login nor an email
)

// Decision is what Decide says.
type Decision struct {
	Do     int    // DecideRefuse, DecideLink or DecideCreate
	Login  string // link: the existing user; create: the new user's login
	Type   string // create: "internal" or "community"
	Admin  bool   // create
	Reason string // refuse: one of the Refuse* reasons
}

// Existing is what the caller found among the local users for an
// identity: the user whose email equals its email (EmailOwner, "" for
// none) and whether a user has its login (LoginTaken).
type Existing struct {
	EmailOwner string
	LoginTaken bool
}

// Decide applies the rules to id, given what exists locally.
func (r Rules) Decide(id Identity, ex Existing) Decision {
	if r.LinkExisting == LinkByVerifiedEmail && ex.EmailOwner != "" {
		if !id.EmailVerified {
			// Linking on an address the provider does not vouch for would
			// hand the account to whoever typed it there.
			return Decision{Reason: RefuseEmailUnverified}
		}
		return Decision{Do: DecideLink, Login: ex.EmailOwner}
	}
	if id.Login == "" {
		return Decision{Reason: RefuseNoLogin}
	}
	typ, admin := r.userType(id)
	switch {
	case typ == "":
		return Decision{Reason: RefuseByRules}
	case ex.LoginTaken:
		return Decision{Reason: RefuseLoginTaken}
	}
	return Decision{Do: DecideCreate, Login: id.Login, Type: typ, Admin: admin}
}

// userType is the type (and admin flag) the rules give id; "" refuses.
func (r Rules) userType(id Identity) (string, bool) {
	switch {
	case memberOf(id.Groups, r.AdminGroups):
		return "internal", true
	case memberOf(id.Groups, r.InternalGroups):
		return "internal", false
	case memberOf(id.Groups, r.CommunityGroups):
		return "community", false
	}
	if id.EmailVerified {
		if _, domain, ok := strings.Cut(id.Email, "@"); ok && contains(r.InternalDomains, domain) {
			return "internal", false
		}
	}
	if r.Others == OthersCommunity {
		return "community", false
	}
	return "", false
}

// memberOf reports whether any of groups matches any of names.
func memberOf(groups, names []string) bool {
	for _, g := range groups {
		for _, n := range names {
			if strings.EqualFold(g, n) || strings.EqualFold(firstRDNValue(g), n) {
				return true
			}
		}
	}
	return false
}

// firstRDNValue is the value of a DN's first RDN ("ERP-Admins" of
// "cn=ERP-Admins,ou=groups,dc=example"), unescaped for the common
// escapes of RFC 4514 §2.4; "" when g is not a DN.
func firstRDNValue(g string) string {
	_, v, ok := strings.Cut(g, "=")
	if !ok {
		return ""
	}
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case c == '\\' && i+1 < len(v):
			i++
			b.WriteByte(v[i])
		case c == ',' || c == '+':
			return b.String()
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// Package federation signs people in through identity providers erpgate
// does not run (SPEC §10): OpenID Connect providers (generic by
// discovery, with presets for Microsoft Entra ID and Google) and LDAP /
// Active Directory directories. A provider asserts an Identity; the
// issuer maps it to a local user by a stored link, or by the provider's
// rules on first sign-in, and from then on the person is an ordinary
// user: sessions, license slots, reserved seats and kill switches apply
// as to anyone.
//
// identity.go holds what every provider returns; each kind of provider
// has its own file.
package federation

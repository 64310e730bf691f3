// Package adminui is the admin console: server-rendered pages on the
// admin listener under /admin/ui/ for the jobs of the admin API — license
// use, sessions, Trusted Apps, reference tokens, users and the latest
// audit events of this replica (SPEC §7, issue 18).
//
// The console is an OAuth client of erpgate's own identity server (the
// built-in app config.AdminConsoleApp): authorization code with PKCE S256
// and state (RFC 6749 §4.1, RFC 7636, RFC 9700 §2.1), the code exchanged
// in-process, scope sec. The access token is kept in an encrypted,
// authenticated HttpOnly cookie (gorilla/securecookie) on /admin/ui/,
// SameSite=Lax, Secure on https.
//
// Every request is judged as the admin API judges its callers — by one
// function, admin.Handler.Authorize, over the credential authority: a
// revoked token, an ended session, a disabled app, a user who is gone,
// disabled or no longer an administrator is refused at the next click.
// A refused or expired token sends the browser to sign in again (which
// the identity session makes silent); a valid token of someone who is not
// an administrator gets a page saying so.
//
// Every action goes through the admin package's interfaces (admin.Sessions,
// admin.Apps, admin.Tokens, admin.Users) and is audited by
// admin.AuditChange with the administrator's login, the line the API
// writes for the same action. Forms are POSTs with an anti-forgery token
// (a synchronizer token kept in the encrypted cookie), answered by a
// redirect (post/redirect/get) or, for a refused form, by the same form
// with what was typed and why it was refused. Secrets, token values and
// reset links are shown once, on the page that answers the POST.
package adminui

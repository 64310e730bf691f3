// Package admin is the JSON API on the admin listener (SPEC §7) under
// /admin/. Every request needs an access token (Authorization: Bearer)
// verified in-process, carrying one of the configured audiences and the
// scope sec, from either an administrator (is_admin) or a
// client-credentials token of an app allowed sec; a token whose session
// was ended by logout or an administrator is refused. Refusals are RFC
// 6750 §3.1 answers with a JSON body: 401 for a missing or bad token, 403
// for a missing scope or a caller who is not an administrator.
//
// Endpoints:
//
//	GET    /admin/sessions       open sessions, oldest first
//	DELETE /admin/sessions/{id}  end a session (reason admin); its tokens get 401
//	GET    /admin/license        license slots used, total, reserved, free
//	GET    /admin/apps           Trusted Apps, the config file's and the run-time ones
//	POST   /admin/apps           create a run-time app (its secret in the answer, once)
//	PATCH  /admin/apps/{uri}     edit a run-time app (scopes, redirect URIs, user types, policies, sign-in)
//	POST   /admin/apps/{uri}/disable, /enable, /secret
//
// A run-time app has the keys of an apps[] entry of the config file and
// is judged by the same rules (config.CheckApp), against the running
// config: its identity_providers must name the current file's
// providers, and local_passwords: false needs at least one.
//
// Authorize is the one judgement of who may administer; the admin
// console (package adminui) calls it for every page, and writes the
// API's audit lines for its actions (AuditChange).
//
// Admin calls take no license slot.
package admin

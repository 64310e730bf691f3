// Package accesstoken verifies erpgate's JWT access tokens in-process, for
// the proxy, the admin API and the identity server's own endpoints
// (userinfo, introspection).
package accesstoken

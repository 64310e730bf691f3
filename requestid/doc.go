// Package requestid gives every request an id (X-Request-Id): the
// client's when it is well-formed, else a fresh one. The id is in the
// request context for logs and audit lines, in the response, and passed
// upstream by the proxy.
package requestid

// Package claims is the shape of erpgate's JWT access tokens: what the
// issuer signs and the proxy reads. It follows ERP.net's access tokens
// (scope as a JSON array, user and system-user claims) and RFC 9068.
package claims

// Package testldap starts, for a test, Debian's OpenLDAP server (slapd)
// on loopback with a seeded directory: people under ou=people as
// inetOrgPerson entries with salted SHA-1 passwords, groupOfNames groups
// under ou=groups (the memberof overlay keeps the people's memberOf), and
// a service account the gateway searches as. slapd listens for ldap://
// (StartTLS offered) and ldaps:// with a certificate for 127.0.0.1 from
// a CA generated for the test, and logs every operation (loglevel stats),
// so a test can see which operations a client did (Conns).
//
// slapd runs in the foreground (-d stats) from a temporary directory
// with a slapd.conf of its own; it runs as the test's user, root
// included, with no AppArmor profile in the way on Debian. When slapd is
// missing the test is skipped, or fails under CI=true, where .ci/run
// installs it.
package testldap

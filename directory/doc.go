// Package directory holds the one record of a Trusted Application (App)
// and of a user (User), and Table, the live view of both that every door
// reads: the identity server, the credential authority, the
// reference-token service and the admin API.
//
// A record is the same type whether it came from the config file (built
// by package config), from the store (apps and users created at run
// time) or is shown by the admin API; a field added to an app touches
// App alone. Table answers from memory: config records are swapped in
// whole on reload; stored apps and users (a deleted user as its
// tombstone), and the passwords users set themselves (PasswordChange),
// are synced from the store within a second. The file's users are
// read-only at run time: a stored user never shadows one.
package directory

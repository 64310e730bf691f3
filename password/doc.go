// Package password hashes and checks user passwords with argon2id
// (RFC 9106), stored as PHC strings:
// $argon2id$v=19$m=65536,t=1,p=2$<salt>$<hash> (unpadded standard base64).
package password

package store

import (
	"context"
	"time"
)

// SessionClient records that a Trusted App was issued tokens for a user's
// sign-in session (its sid): the apps to tell, by OpenID Connect
// Back-Channel Logout 1.0, when that session ends. Several apps signed in
// by single sign-on share one sid.
type SessionClient struct {
	SessionID string
	ClientID  string
	Subject   string    // the user's login: the tokens' sub
	SeenAt    time.Time // the latest issue recorded for the pair
}

// SessionClients keeps which apps got tokens for which session. A record
// lives until its session ends (TakeSessionClients) or, for a session
// that never ends by an event (its tokens expire unused), until the
// janitor forgets it (DeleteStaleSessionClients).
type SessionClients interface {
	// RecordSessionClient records c. The same (SessionID, ClientID) pair
	// again is one record, with the later SeenAt (and c's Subject).
	RecordSessionClient(ctx context.Context, c SessionClient) error
	// TakeSessionClients deletes the records of sid and returns them,
	// sorted by ClientID; none is not an error. Of concurrent calls for
	// one sid each record goes to exactly one, so an end is told once.
	TakeSessionClients(ctx context.Context, sid string) ([]SessionClient, error)
	// DeleteStaleSessionClients forgets the records whose SeenAt is
	// before before.
	DeleteStaleSessionClients(ctx context.Context, before time.Time) error
}

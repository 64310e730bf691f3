package postgres

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
)

// Topics of change notifications: what another replica wrote, and so what
// a listener should reload (migrations/0003_notify.sql, 0006 and 0008
// send them).
const (
	TopicKeys        = "keys"        // a signing key was added or removed
	TopicSessions    = "sessions"    // a session ended (or a tombstone was recorded)
	TopicRevocations = "revocations" // an access token was revoked
	TopicApps        = "apps"        // a run-time app or a user's own password changed (the directory's stored part)
	TopicUsers       = "users"       // a run-time user was created, changed or deleted (0008)
)

// Topics is every topic, in no particular order.
var Topics = []string{TopicKeys, TopicSessions, TopicRevocations, TopicApps, TopicUsers}

// notifyChannel is the channel every erpgate schema notifies on; the
// payload is "topic:schema".
const notifyChannel = "erpgate_changes"

// How Listen keeps its connection.
const (
	listenRetryMin       = 100 * time.Millisecond // first wait after the connection is lost
	listenRetryMax       = time.Second            // the wait doubles up to this
	listenConnectTimeout = 5 * time.Second        // one attempt to connect and LISTEN
	// listenPingEvery is how long the connection may stay quiet before
	// Listen checks it is still there: a server that vanished without
	// closing the socket would otherwise go unnoticed until TCP gives up.
	listenPingEvery   = 30 * time.Second
	listenPingTimeout = 5 * time.Second
)

// Listen reports, until ctx ends, the changes written to this store's
// schema by any process (this one included): it calls changed(topic) for
// each notification, within milliseconds of the writer's commit. It holds
// one connection of its own, outside the pool, LISTENing on
// notifyChannel, and re-establishes it whenever it fails (waiting
// 100ms, doubling up to 1s, between attempts).
//
// Notifications sent while the connection was down are lost, so each
// time it is established — the first time too — Listen calls changed
// once for every topic, after LISTEN is in place: the caller re-reads
// everything, and nothing written before that moment can be missed.
// Callers should still poll, more slowly, as a fallback.
//
// changed runs on Listen's goroutine and must not block; hand the topic
// to a worker. Losing and regaining the connection is logged once each.
func (s *Store) Listen(ctx context.Context, changed func(topic string), logger *slog.Logger) {
	delay := listenRetryMin
	down := false
	for {
		err := s.listenOnce(ctx, func() {
			if down {
				logger.Info("postgres: change notifications restored")
				down = false
			}
			delay = listenRetryMin
			for _, t := range Topics {
				changed(t)
			}
		}, changed)
		if ctx.Err() != nil {
			return
		}
		if !down {
			logger.Warn("postgres: change notifications interrupted; reconnecting, replicas' changes arrive by polling meanwhile", "err", err)
			down = true
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(delay):
		}
		delay = min(2*delay, listenRetryMax)
	}
}

// listenOnce connects, LISTENs, calls established and then changed for
// every notification of this schema, until the connection fails or ctx
// ends.
func (s *Store) listenOnce(ctx context.Context, established func(), changed func(topic string)) error {
	cctx, cancel := context.WithTimeout(ctx, listenConnectTimeout)
	defer cancel()
	conn, err := pgx.ConnectConfig(cctx, s.pool.Config().ConnConfig.Copy())
	if err != nil {
		return err
	}
	defer func() {
		closeCtx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = conn.Close(closeCtx)
	}()
	// The schema the tables (and so the triggers) live in: the first of
	// the search_path, as for every other connection of this store.
	var schema pgtype.Text
	if err := conn.QueryRow(cctx, "SELECT current_schema()").Scan(&schema); err != nil {
		return err
	}
	if _, err := conn.Exec(cctx, "LISTEN "+notifyChannel); err != nil {
		return err
	}
	established()
	for {
		wctx, cancel := context.WithTimeout(ctx, listenPingEvery)
		n, err := conn.WaitForNotification(wctx)
		cancel()
		switch {
		case err == nil:
			topic, from, ok := strings.Cut(n.Payload, ":")
			if ok && (!schema.Valid || from == schema.String) {
				changed(topic)
			}
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.Is(err, context.DeadlineExceeded):
			pctx, cancel := context.WithTimeout(ctx, listenPingTimeout)
			err := conn.Ping(pctx)
			cancel()
			if err != nil {
				return err
			}
		default:
			return err
		}
	}
}

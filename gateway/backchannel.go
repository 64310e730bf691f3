package gateway

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/erpgate/erpgate/audit"
	"github.com/erpgate/erpgate/backchannel"
	"github.com/erpgate/erpgate/config"
	"github.com/erpgate/erpgate/metrics"
	"github.com/erpgate/erpgate/session"
	"github.com/erpgate/erpgate/signing"
	"github.com/erpgate/erpgate/store"
)

// startBackchannel starts the back-channel logout sender (OpenID Connect
// Back-Channel Logout 1.0) and has it told of every session end this
// process made: once per end across replicas (session.Ended.Here), for
// user sessions only (service and reference-token sessions have no
// sign-in at an app). Its Close drains the queue, for a bounded time,
// before the store closes.
func (g *Gateway) startBackchannel() error {
	s, err := backchannel.New(backchannel.Config{
		Issuer: g.file.Issuer(), Signer: g.keys, Apps: g.directory, Sessions: g.store,
		Client: backchannelClient(), Clock: g.clock, Logger: g.logger, Audit: g.audit,
		Metrics: metrics.RegisterBackchannel(g.registry),
	})
	if err != nil {
		return err
	}
	g.closers = append(g.closers, s)
	g.sessions.OnEnd(func(_ context.Context, e session.Ended) { tellApps(s, e) })
	return nil
}

// CLIBackchannel makes the session ends a CLI command makes with m
// (`sessions end`, user changes) tell the apps, as the gateway's own do:
// an end is told by the process that made it (session.Ended.Here), so a
// running gateway would not. The keys are read from the store only when
// a token is to be signed. The returned close drains the queue, for at
// most backchannel.DefaultDrainTimeout; call it before m and st close.
func CLIBackchannel(ctx context.Context, f *config.File, st store.Backend, m *session.Manager, logger *slog.Logger, a *audit.Logger) (close func(), err error) {
	dir, err := OpenDirectory(ctx, f, st, time.Now)
	if err != nil {
		return nil, err
	}
	keys := &lazyKeys{open: func() (*signing.Keyring, error) {
		return signing.Open(context.Background(), signing.Config{Algorithm: f.Signing.Algorithm, RotateEvery: f.Signing.RotateEvery.D(),
			MaxTokenTTL: f.Tokens.AccessTokenTTL.D(), Store: st, Clock: time.Now, Logger: logger})
	}}
	s, err := backchannel.New(backchannel.Config{
		Issuer: f.Issuer(), Signer: keys, Apps: dir, Sessions: st, Client: backchannelClient(),
		Clock: time.Now, Logger: logger, Audit: a, Metrics: metrics.RegisterBackchannel(prometheus.NewRegistry()),
	})
	if err != nil {
		return nil, err
	}
	m.OnEnd(func(_ context.Context, e session.Ended) { tellApps(s, e) })
	return func() { _ = s.Close() }, nil
}

// lazyKeys opens the keyring on the first token to sign, so a command
// that tells no app opens no keys.
type lazyKeys struct {
	once sync.Once
	open func() (*signing.Keyring, error)
	k    *signing.Keyring
	err  error
}

func (l *lazyKeys) Sign(typ string, claims any) (string, error) {
	l.once.Do(func() { l.k, l.err = l.open() })
	if l.err != nil {
		return "", l.err
	}
	return l.k.Sign(typ, claims)
}

// tellApps queues the logout tokens of e, if it is this process's to
// send. It never blocks: OnEnd runs on the goroutine that ended the
// session (a request, the reaper).
func tellApps(s *backchannel.Sender, e session.Ended) {
	if !e.Here {
		return // another process ended it, and tells its apps
	}
	switch e.Info.Kind {
	case store.SessionService, store.SessionReference:
		return
	}
	s.Enqueue(backchannel.End{SessionID: e.Info.ID, Subject: e.Info.Subject, ClientID: e.Info.ClientID})
}

// backchannelClient is the HTTP client of logout tokens: every wait
// bounded (the sender adds a deadline per attempt); the sender itself
// refuses redirects (§2.8).
func backchannelClient() *http.Client {
	return &http.Client{Transport: &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSHandshakeTimeout:   5 * time.Second,
		ResponseHeaderTimeout: backchannel.DefaultAttemptTimeout,
		MaxIdleConnsPerHost:   2,
		IdleConnTimeout:       90 * time.Second,
		ForceAttemptHTTP2:     true,
	}}
}

// sessionClientRetention is how long the janitor keeps a session's
// record of an app after the app last got tokens for it: as long as any
// of those tokens, or the sign-in that could give more, may live. A
// session that ends later than that has no tokens left at the app.
func sessionClientRetention(f *config.File) time.Duration {
	return max(codeRetention(f), f.Tokens.AccessTokenTTL.D(), identitySessionTTL)
}

// sweepSessionClients forgets the records of apps whose tokens for a
// session have all expired (janitor.go).
func (g *Gateway) sweepSessionClients(ctx context.Context) error {
	return g.store.DeleteStaleSessionClients(ctx, g.clock().Add(-sessionClientRetention(g.current().file)))
}

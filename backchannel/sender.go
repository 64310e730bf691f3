package backchannel

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/erpgate/erpgate/audit"
	"github.com/erpgate/erpgate/directory"
	"github.com/erpgate/erpgate/metrics"
	"github.com/erpgate/erpgate/store"
)

// Results: the label values of erpgate_backchannel_logout_total and the
// reason of the logout.backchannel audit event, one per logout token (or
// per session end, for an end dropped before its apps were known).
const (
	// ResultDelivered: the app answered 200 or 204 (§2.5).
	ResultDelivered = "delivered"
	// ResultRefused: the app gave another answer that is not worth
	// retrying: a 4xx other than 429, a redirect (not followed, §2.8),
	// or an unexpected status.
	ResultRefused = "refused"
	// ResultFailed: every attempt met a network error, a timeout, a 5xx
	// or a 429.
	ResultFailed = "failed"
	// ResultDropped: the queue was full, or the process stopped first.
	ResultDropped = "dropped"
	// ResultSkipped: no token could be made: the app requires a sid the
	// session lacks (§2.2), or the app lost its backchannel_logout_uri or
	// was removed before the token went.
	ResultSkipped = "skipped"
)

// Defaults of the Config fields that may be left zero.
const (
	DefaultQueueSize      = 1024
	DefaultWorkers        = 2
	DefaultAttemptTimeout = 5 * time.Second
	DefaultAttempts       = 5
	DefaultBackoff        = 4 * time.Second // then 8, 16, 32: five attempts over about a minute
	DefaultDrainTimeout   = 5 * time.Second
)

// maxRetryAfter caps the wait an app's Retry-After may ask for, so the
// attempts stay within about the backoff's bound.
const maxRetryAfter = time.Minute

// maxAnswer bounds how much of an app's answer is read (and discarded),
// so the connection can be reused without reading an endless body.
const maxAnswer = 4 << 10

// Apps finds an app by client_id at send time (*directory.Table), so a
// URI changed after the session ended is the one used.
type Apps interface {
	App(id string) *directory.App
}

// SessionClients hands over the apps recorded for a session (the store):
// taking deletes them, so one end tells each app once.
type SessionClients interface {
	TakeSessionClients(ctx context.Context, sid string) ([]store.SessionClient, error)
}

// Config configures a Sender.
type Config struct {
	Issuer   string // iss of every logout token
	Signer   Signer
	Apps     Apps
	Sessions SessionClients
	// Client sends the logout tokens. The Sender uses a copy that never
	// follows a redirect (§2.8: a redirect could send the token where
	// the app did not register).
	Client  *http.Client
	Clock   func() time.Time // stamps iat and exp; waits are real time
	Logger  *slog.Logger
	Audit   *audit.Logger // nil discards
	Metrics *metrics.Backchannel

	QueueSize      int           // pending work, and separately retries waiting; default 1024
	Workers        int           // concurrent deliveries; default 2
	AttemptTimeout time.Duration // one POST; default 5s
	Attempts       int           // per token, the first included; default 5
	Backoff        time.Duration // before the first retry, doubling after; default 4s
	TokenTTL       time.Duration // default DefaultTokenTTL
	DrainTimeout   time.Duration // Close's bound; default 5s
}

// End is a session that ended, as the sender is told of it.
type End struct {
	SessionID string
	Subject   string // the user's login, when the session knows it
	ClientID  string // the app the session was opened by, when known
}

// job is one unit of work: an End to resolve into its apps, or one
// logout token to deliver to one app.
type job struct {
	end      *End
	logout   Logout
	attempts int // made so far
	due      time.Time
	// retryAfter is what the app's last answer asked to wait (a 429 or
	// 503 Retry-After), at most maxRetryAfter; 0: the backoff decides.
	retryAfter time.Duration
}

// Sender delivers logout tokens; see the package doc. It is safe for
// concurrent use.
type Sender struct {
	cfg    Config
	client *http.Client
	queue  chan *job

	mu      sync.Mutex
	closed  bool
	waiting []*job // retries, by due time
	wake    chan struct{}

	stop   chan struct{}
	ctx    context.Context // cancelled when Close's bound passed: attempts in flight end
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// New returns a Sender with its workers running; Close stops them.
func New(cfg Config) (*Sender, error) {
	if cfg.Issuer == "" || cfg.Signer == nil || cfg.Apps == nil || cfg.Sessions == nil || cfg.Client == nil ||
		cfg.Clock == nil || cfg.Logger == nil || cfg.Metrics == nil {
		return nil, errors.New("backchannel: Issuer, Signer, Apps, Sessions, Client, Clock, Logger and Metrics are required")
	}
	cfg.QueueSize = cmp.Or(max(cfg.QueueSize, 0), DefaultQueueSize)
	cfg.Workers = cmp.Or(max(cfg.Workers, 0), DefaultWorkers)
	cfg.AttemptTimeout = cmp.Or(max(cfg.AttemptTimeout, 0), DefaultAttemptTimeout)
	cfg.Attempts = cmp.Or(max(cfg.Attempts, 0), DefaultAttempts)
	cfg.Backoff = cmp.Or(max(cfg.Backoff, 0), DefaultBackoff)
	cfg.TokenTTL = cmp.Or(max(cfg.TokenTTL, 0), DefaultTokenTTL)
	cfg.DrainTimeout = cmp.Or(max(cfg.DrainTimeout, 0), DefaultDrainTimeout)
	client := *cfg.Client
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	ctx, cancel := context.WithCancel(context.Background())
	s := &Sender{
		cfg: cfg, client: &client, queue: make(chan *job, cfg.QueueSize),
		wake: make(chan struct{}, 1), stop: make(chan struct{}), ctx: ctx, cancel: cancel,
	}
	for range cfg.Workers {
		s.wg.Go(s.work)
	}
	s.wg.Go(s.schedule)
	return s, nil
}

// Enqueue hands e to the workers without waiting: when the queue is full
// or the sender closed, e is dropped (counted and audited) and Enqueue
// reports false.
func (s *Sender) Enqueue(e End) bool {
	j := &job{end: &e}
	if s.push(j, false) {
		return true
	}
	s.final(context.Background(), j, ResultDropped, "queue full or stopping")
	return false
}

// push adds j to the queue unless it is full, or the sender closed and
// j is new work (not a token of an end taken while draining).
func (s *Sender) push(j *job, draining bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed && !draining {
		return false
	}
	select {
	case s.queue <- j:
		s.gauge()
		return true
	default:
		return false
	}
}

// gauge sets the queue depth; s.mu is held.
func (s *Sender) gauge() {
	s.cfg.Metrics.Queued.Set(float64(len(s.queue) + len(s.waiting)))
}

// work runs jobs until Close; then it finishes the queued ones, unless
// Close's bound passed, which drops them.
func (s *Sender) work() {
	for {
		select {
		case j := <-s.queue:
			s.run(j)
		case <-s.stop:
			for {
				select {
				case j := <-s.queue:
					if s.ctx.Err() != nil {
						s.mu.Lock()
						s.gauge()
						s.mu.Unlock()
						s.final(context.Background(), j, ResultDropped, "stopped before it was sent")
						continue
					}
					s.run(j)
				default:
					return
				}
			}
		}
	}
}

// run does one attempt of j and schedules the next if it may be retried.
func (s *Sender) run(j *job) {
	s.mu.Lock()
	s.gauge()
	s.mu.Unlock()
	j.attempts++
	var retry bool
	var detail string
	if j.end != nil {
		retry, detail = s.resolve(j)
	} else {
		var result string
		result, retry, detail = s.deliver(j)
		if !retry {
			s.final(context.Background(), j, result, detail)
			return
		}
	}
	if !retry {
		return
	}
	if j.attempts >= s.cfg.Attempts {
		s.final(context.Background(), j, ResultFailed, detail)
		return
	}
	s.later(j, detail)
}

// later puts j among the retries, due after the backoff for its attempts
// so far (Backoff, doubling).
func (s *Sender) later(j *job, detail string) {
	j.due = time.Now().Add(max(s.cfg.Backoff<<(j.attempts-1), j.retryAfter))
	s.mu.Lock()
	if s.closed || len(s.waiting) >= s.cfg.QueueSize {
		s.mu.Unlock()
		s.final(context.Background(), j, ResultDropped, "no room to retry: "+detail)
		return
	}
	i, _ := slices.BinarySearchFunc(s.waiting, j.due, func(w *job, t time.Time) int { return w.due.Compare(t) })
	s.waiting = slices.Insert(s.waiting, i, j)
	s.gauge()
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// schedule moves retries to the queue when they are due, until Close,
// which drops those still waiting.
func (s *Sender) schedule() {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	full := false // the queue had no room for a due retry
	for {
		s.mu.Lock()
		wait := time.Hour
		switch {
		case full:
			wait = 50 * time.Millisecond
		case len(s.waiting) > 0:
			wait = time.Until(s.waiting[0].due)
		}
		s.mu.Unlock()
		timer.Reset(max(wait, 0))
		select {
		case <-s.stop:
			s.mu.Lock()
			left := s.waiting
			s.waiting = nil
			s.gauge()
			s.mu.Unlock()
			for _, j := range left {
				s.final(context.Background(), j, ResultDropped, "stopped while waiting to retry")
			}
			return
		case <-s.wake:
		case <-timer.C:
			s.mu.Lock()
			now := time.Now()
			full = false
			for !full && len(s.waiting) > 0 && !s.waiting[0].due.After(now) {
				select {
				case s.queue <- s.waiting[0]:
					s.waiting = s.waiting[1:]
				default: // try again shortly
					full = true
				}
			}
			s.gauge()
			s.mu.Unlock()
		}
	}
}

// resolve turns an End into one job per app to tell: those recorded for
// the session, and the app that opened it; those with no
// backchannel_logout_uri are left out. A store failure is retried.
func (s *Sender) resolve(j *job) (retry bool, detail string) {
	e := j.end
	ctx, cancel := context.WithTimeout(s.ctx, s.cfg.AttemptTimeout)
	defer cancel()
	recorded, err := s.cfg.Sessions.TakeSessionClients(ctx, e.SessionID)
	if err != nil {
		s.cfg.Logger.Warn("back-channel logout: read the session's apps", "session", e.SessionID, "err", err)
		return true, "store: " + err.Error()
	}
	subjects := map[string]string{}
	for _, c := range recorded {
		subjects[c.ClientID] = cmp.Or(c.Subject, e.Subject)
	}
	if _, ok := subjects[e.ClientID]; !ok && e.ClientID != "" {
		subjects[e.ClientID] = e.Subject
	}
	for _, id := range slices.Sorted(maps.Keys(subjects)) {
		app := s.cfg.Apps.App(id)
		if app == nil || app.BackchannelLogoutURI == "" {
			continue
		}
		d := &job{logout: Logout{ClientID: id, SessionRequired: app.BackchannelLogoutSID, SessionID: e.SessionID, Subject: subjects[id]}}
		if !s.push(d, true) {
			s.final(context.Background(), d, ResultDropped, "queue full or stopping")
		}
	}
	return false, ""
}

// deliver makes one attempt at j's logout token (§2.5): a fresh token
// (its own jti and iat) each time, POSTed as a form.
func (s *Sender) deliver(j *job) (result string, retry bool, detail string) {
	app := s.cfg.Apps.App(j.logout.ClientID)
	if app == nil || app.BackchannelLogoutURI == "" {
		return ResultSkipped, false, "the app no longer has a backchannel_logout_uri"
	}
	j.logout.SessionRequired = app.BackchannelLogoutSID
	c, err := NewClaims(s.cfg.Issuer, j.logout, s.cfg.Clock(), s.cfg.TokenTTL)
	if err != nil {
		return ResultSkipped, false, err.Error()
	}
	tok, err := s.cfg.Signer.Sign(TokenType, c)
	if err != nil {
		return ResultFailed, true, "sign: " + err.Error()
	}
	ctx, cancel := context.WithTimeout(s.ctx, s.cfg.AttemptTimeout)
	defer cancel()
	body := url.Values{"logout_token": {tok}}.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, app.BackchannelLogoutURI, strings.NewReader(body))
	if err != nil {
		return ResultRefused, false, "request: " + err.Error()
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := s.client.Do(req)
	if err != nil {
		return ResultFailed, true, "send: " + redact(err, tok)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxAnswer))
	resp.Body.Close()
	switch code := resp.StatusCode; {
	case code == http.StatusOK || code == http.StatusNoContent:
		return ResultDelivered, false, ""
	case code == http.StatusTooManyRequests || code >= 500:
		j.retryAfter = retryAfter(resp.Header.Get("Retry-After"))
		return ResultFailed, true, fmt.Sprintf("answered %d", code)
	case code >= 300 && code < 400:
		return ResultRefused, false, fmt.Sprintf("answered %d (redirect not followed)", code)
	default:
		return ResultRefused, false, fmt.Sprintf("answered %d", code)
	}
}

// retryAfter reads a Retry-After of delay-seconds (RFC 9110 §10.2.3),
// capped at maxRetryAfter; a date or anything else is ignored (0).
func retryAfter(v string) time.Duration {
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || n <= 0 {
		return 0
	}
	return min(time.Duration(n)*time.Second, maxRetryAfter)
}

// redact keeps the token out of an error message (a URL error quotes the
// URL, never the body, but a transport may say more).
func redact(err error, tok string) string {
	return strings.ReplaceAll(err.Error(), tok, "[logout token]")
}

// final counts and audits the outcome of j.
func (s *Sender) final(ctx context.Context, j *job, result, detail string) {
	s.cfg.Metrics.Logouts.WithLabelValues(result).Inc()
	e := audit.Event{Name: audit.BackchannelLogout, Reason: result,
		ClientID: j.logout.ClientID, Subject: j.logout.Subject, Session: j.logout.SessionID,
		Attrs: []slog.Attr{slog.Int("attempts", j.attempts), slog.String("detail", detail)}}
	if j.end != nil {
		e.ClientID, e.Subject, e.Session = "", j.end.Subject, j.end.SessionID
	}
	s.cfg.Audit.Log(ctx, e)
	if result != ResultDelivered {
		s.cfg.Logger.Warn("back-channel logout not delivered", "result", result, "client_id", e.ClientID,
			"session", e.Session, "attempts", j.attempts, "detail", detail)
	}
}

// Close stops taking work and lets the workers finish what is queued,
// for at most DrainTimeout; then attempts in flight are cancelled and
// what is left is dropped (counted). Retries waiting are dropped at
// once. Calling it again does nothing.
func (s *Sender) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.stop)
	s.mu.Unlock()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(s.cfg.DrainTimeout):
		s.cancel()
		<-done
	}
	s.cancel()
	return nil
}

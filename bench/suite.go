package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/erpgate/erpgate/internal/proc"
	"github.com/erpgate/erpgate/sampleapi"
)

// rounds is how many slices each compared path's measured time is cut
// into. The paths of one comparison take turns slice by slice, so a
// burst of other work on the machine hits both sides of a ratio alike.
const rounds = 4

// options are the run's settings, from flags.
type options struct {
	duration time.Duration // measured time per path
	warmup   time.Duration // unmeasured load before each HTTP path
	workers  int
	driver   string   // erpgate store: sqlite or memory
	algs     []string // signing algorithms, one erpgate process each
	sessions int      // sessions the sessions phase opens; 0 skips it
	command  string   // how the run was started, for the report
}

// suite runs the phases in order; a path that cannot be measured becomes
// a row with its error and the run goes on.
type suite struct {
	opts   options
	log    io.Writer // progress lines
	kids   *children
	client *http.Client
	rep    *report
	tmp    string
	bin    string // the built erpgate; "" if the build failed
}

// job is one path of a comparison: run measures it for d.
type job struct {
	path string
	run  func(d time.Duration) *result
	// warm is an unmeasured run first; nil for none. A path whose
	// warm-up has no success at all is not measured further: its row
	// shows what the warm-up got (a missing endpoint, a bad credential).
	warm func() *result
	err  error // set: the path cannot run, the row shows err
	// server is the process whose CPU per request the row reports: the
	// one answering the requests (not the upstream behind a proxy); nil
	// for none.
	server *process
}

// server is a child the suite started: where it answers, and its process.
type server struct {
	url  string
	proc *process
}

// on is j with its CPU measured on p.
func (j job) on(p *process) job {
	j.server = p
	return j
}

func runSuite(ctx context.Context, o options, log io.Writer) (*report, error) {
	root, err := proc.ModuleRoot()
	if err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp("", "erpgate-bench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	s := &suite{
		opts:   o,
		log:    log,
		kids:   &children{},
		client: loadClient(o.workers),
		rep:    &report{when: time.Now(), machine: describeMachine(root), opts: o},
		tmp:    tmp,
	}
	defer s.kids.stopAll()
	defer s.client.CloseIdleConnections()

	s.progress("building ./cmd/erpgate")
	if s.bin, err = buildGateway(ctx, root, tmp); err != nil {
		s.problem(err)
	}
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	upURL, upProc, err := s.startChild(ctx, self, roleUpstream)
	if err != nil {
		s.problem(err)
	}
	var bare, bareHeaders server
	if upURL != "" {
		if bare.url, bare.proc, err = s.startChild(ctx, self, roleBare, "-upstream", upURL); err != nil {
			s.problem(err)
		}
		if bareHeaders.url, bareHeaders.proc, err = s.startChild(ctx, self, roleBareHeaders, "-upstream", upURL); err != nil {
			s.problem(err)
		}
	}

	for i, alg := range o.algs {
		g, token, err := s.startGateway(ctx, alg, upURL)
		if i == 0 {
			s.proxied(ctx, server{upURL, upProc}, bare, bareHeaders, g, token, err)
		}
		s.issuer(ctx, alg, g, token, err)
		if g != nil {
			s.client.CloseIdleConnections()
			g.proc.stop()
		}
	}
	if o.sessions > 0 {
		s.sessions(ctx, upURL)
	}
	s.rep.aborted = ctx.Err()
	return s.rep, nil
}

// proxied compares the same GET sent to the upstream directly, through
// the bare proxy (also as it sends erpgate's extra headers) and through
// erpgate with a bearer token, and keeps issue 22's three figures of
// erpgate against the bare proxy for the report.
func (s *suite) proxied(ctx context.Context, up, bareSrv, headersSrv server, g *gateway, token string, gErr error) {
	persons := func(path string, sv server) job {
		base := sv.url
		var err error
		if base == "" {
			err = errors.New("server did not start")
		}
		// The same request bytes everywhere: the bearer header goes to the
		// upstream and the bare proxy too, which pass it through unread.
		t := target{method: http.MethodGet, url: base + sampleapi.PersonsPath}
		if token != "" {
			t.header = http.Header{"Authorization": {"Bearer " + token}}
		}
		return s.httpJob(ctx, path, t, err).on(sv.proc)
	}
	gw := job{path: "GET erpgate, bearer " + s.opts.algs[0], err: gErr}
	if gErr == nil {
		gw = s.httpJob(ctx, gw.path, g.bearerTarget(token), nil).on(g.proc)
	}
	ref := job{path: "GET erpgate, reference token (X-Api-Key)", err: gErr}
	if gErr == nil {
		tok, err := g.issueReferenceToken(ctx)
		ref = s.httpJob(ctx, ref.path, g.apiKeyTarget(tok), err).on(g.proc)
	}
	const headersPath = "GET bare proxy + erpgate's headers"
	res := s.compare(ctx, persons("GET upstream direct", up), persons("GET bare proxy", bareSrv),
		persons(headersPath, headersSrv), gw, ref)
	direct, bare, headers, erp := res[0], res[1], res[2], res[3]
	s.add("GET upstream direct", direct, "")
	s.add("GET bare proxy", bare, throughputRatio(bare, direct, "of direct"))
	s.add(headersPath, headers, throughputRatio(headers, bare, "of bare")+cpuAbove(headers, bare))
	r := throughputRatio(erp, bare, "of bare")
	if p := p99Ratio(erp, bare); p != 0 {
		r += fmt.Sprintf("; p99 ×%.2f", p)
	}
	s.add(gw.path, erp, r+cpuAbove(erp, bare))
	s.add(ref.path, res[4], throughputRatio(res[4], bare, "of bare")+cpuAbove(res[4], bare))
	s.rep.proxied = &proxiedRun{path: gw.path, erp: erp, bare: bare, headers: headers}
}

// p99Ratio is a's p99 latency over b's; 0 when either has none.
func p99Ratio(a, b *result) float64 {
	if a.err != nil || b.err != nil || a.ok == 0 || b.ok == 0 || b.lat.quantile(0.99) == 0 {
		return 0
	}
	return float64(a.lat.quantile(0.99)) / float64(b.lat.quantile(0.99))
}

// issuer measures the token endpoint (client credentials, and the
// refresh grant of signed-in users) against raw signing with the same
// algorithm, then introspection.
func (s *suite) issuer(ctx context.Context, alg string, g *gateway, token string, gErr error) {
	tok := job{path: "POST token, client_credentials " + alg, err: gErr}
	refresh := job{path: "POST token, refresh_token " + alg, err: gErr}
	intro := job{path: "POST introspect, " + alg + " token", err: gErr}
	var rl *refreshLoad
	if gErr == nil {
		tok = s.httpJob(ctx, tok.path, g.tokenTarget(), nil)
		intro = s.httpJob(ctx, intro.path, g.introspectTarget(token), nil)
		rl, refresh = s.refreshJob(ctx, refresh.path, g)
	}
	raw := job{path: "raw jose sign " + alg + " (in-process)"}
	signer, err := newRawSigner(alg)
	if err != nil {
		raw.err = err
	} else {
		raw.run = func(d time.Duration) *result { return rawSignRate(ctx, signer, d) }
	}
	res := s.compare(ctx, tok, refresh, raw)
	s.add(tok.path, res[0], throughputRatio(res[0], res[2], "of raw sign"))
	if rl != nil {
		s.add(refresh.path, res[1], refreshRatio(res[1], res[2], rl.signatures()))
	} else {
		s.add(refresh.path, res[1], "")
	}
	s.add(raw.path, res[2], "")
	s.add(intro.path, s.compare(ctx, intro)[0], "")
	if g != nil {
		st := startup{name: "erpgate " + alg, readyIn: g.readyIn, idleRSS: g.idleRSS}
		st.peakRSS, _ = g.proc.statusKiB("VmHWM")
		if g.proc.Exited() {
			st.err = fmt.Errorf("exited during the run: %v", g.proc.Err())
			s.problem(fmt.Errorf("erpgate %s exited during the run (%v)\n%s", alg, g.proc.Err(), g.proc.logTail(20)))
		}
		s.rep.starts = append(s.rep.starts, st)
	}
}

// refreshJob signs in once per worker and makes the refresh grant's job
// over those chains. A sign-in that fails is a problem; the job runs on
// the chains that worked, and cannot run without any.
func (s *suite) refreshJob(ctx context.Context, path string, g *gateway) (*refreshLoad, job) {
	s.progress("signing in %d times (authorization code + PKCE) for %s", s.opts.workers, path)
	rl, err := signIns(ctx, s.client, g, s.opts.workers)
	if err != nil {
		s.problem(fmt.Errorf("%s: %w", path, err))
	}
	if rl == nil {
		return nil, job{path: path, err: errors.New("no sign-in worked")}
	}
	return rl, job{
		path: path,
		run:  func(d time.Duration) *result { return rl.run(ctx, d) },
		warm: func() *result { return rl.run(ctx, s.opts.warmup) },
	}
}

// startGateway starts erpgate signing with alg and fetches one access
// token. On failure the startup row says so and the error is returned
// for the rows that needed the gateway.
func (s *suite) startGateway(ctx context.Context, alg, upURL string) (*gateway, string, error) {
	name := "erpgate " + alg
	fail := func(short string, err error) (*gateway, string, error) {
		if err != nil {
			s.problem(err)
		}
		s.rep.starts = append(s.rep.starts, startup{name: name, err: errors.New(short)})
		return nil, "", errors.New(short)
	}
	switch {
	case ctx.Err() != nil:
		return nil, "", ctx.Err()
	case s.bin == "":
		return fail("build failed", nil)
	case upURL == "":
		return fail("no upstream", nil)
	}
	s.progress("starting %s (%s store)", name, s.opts.driver)
	g, err := startGateway(ctx, s.kids, s.bin, s.tmp, gatewayParams{alg: alg, driver: s.opts.driver, upstream: upURL})
	if err != nil {
		return fail("did not start", err)
	}
	if g.idleErr != nil {
		s.problem(fmt.Errorf("%s RSS: %w", name, g.idleErr))
	}
	token, err := g.fetchToken(ctx, s.client)
	if err != nil {
		// The gateway runs; only the rows needing a token fail.
		s.problem(err)
		return g, "", err
	}
	return g, token, nil
}

// httpJob is t driven by the load generator; err set means it cannot run.
func (s *suite) httpJob(ctx context.Context, path string, t target, err error) job {
	if err != nil {
		return job{path: path, err: err}
	}
	return job{
		path: path,
		run:  func(d time.Duration) *result { return runLoad(ctx, s.client, t, s.opts.workers, d) },
		warm: func() *result { return runLoad(ctx, s.client, t, s.opts.workers, s.opts.warmup) },
	}
}

// compare measures each job for opts.duration in total, the jobs taking
// turns in rounds slices, and returns their results in order.
func (s *suite) compare(ctx context.Context, jobs ...job) []*result {
	res := make([]*result, len(jobs))
	var names []string
	for i, j := range jobs {
		switch {
		case j.err != nil:
			res[i] = &result{err: j.err}
		case ctx.Err() != nil:
			res[i] = &result{err: ctx.Err()}
		default:
			if j.warm != nil {
				if w := j.warm(); w.ok == 0 {
					res[i] = w
					if w.err == nil {
						w.err = errors.New("no successful request")
					}
					continue
				}
			}
			res[i] = &result{}
			names = append(names, j.path)
		}
	}
	if len(names) == 0 {
		return res
	}
	s.progress("%s: %s in %d slices", strings.Join(names, " / "), s.opts.duration, rounds)
	slice := s.opts.duration / rounds
	for range rounds {
		for i, j := range jobs {
			if res[i].err != nil || ctx.Err() != nil {
				continue
			}
			res[i].merge(s.measure(j, slice))
		}
	}
	for _, r := range res {
		if r.err == nil && r.ok == 0 {
			r.err = errors.New("no successful request")
		}
	}
	return res
}

// measure runs j for d and, when j names its server, adds the CPU the
// server used meanwhile.
func (s *suite) measure(j job, d time.Duration) *result {
	if j.server == nil {
		return j.run(d)
	}
	before, err := j.server.cpuTime()
	r := j.run(d)
	after, err2 := j.server.cpuTime()
	if err == nil && err2 == nil {
		r.cpu = after - before
	}
	return r
}

// cpuAbove is "; CPU/req +16 µs over bare", or "" when either side has
// no CPU figure.
func cpuAbove(a, bare *result) string {
	ca, cb := a.cpuPerOp(), bare.cpuPerOp()
	if ca == 0 || cb == 0 || a.err != nil || bare.err != nil {
		return ""
	}
	return fmt.Sprintf("; CPU/req %+.1f µs over bare", float64(ca-cb)/float64(time.Microsecond))
}

func (s *suite) add(path string, res *result, ratio string) {
	s.rep.rows = append(s.rep.rows, row{path: path, res: res, ratio: ratio})
}

func (s *suite) problem(err error) {
	fmt.Fprintf(s.log, "bench: %v\n", err)
	s.rep.problems = append(s.rep.problems, err.Error())
}

func (s *suite) progress(format string, args ...any) {
	fmt.Fprintf(s.log, "bench: "+format+"\n", args...)
}

// throughputRatio is "0.83 of bare", or "" when either side failed.
func throughputRatio(a, b *result, what string) string {
	if a.err != nil || b.err != nil || a.rate() == 0 || b.rate() == 0 {
		return ""
	}
	return fmt.Sprintf("%.2f %s", a.rate()/b.rate(), what)
}

// startChild runs this binary as role, listening on a socket it inherits,
// and waits until the sample API's health path answers through it.
func (s *suite) startChild(ctx context.Context, self, role string, args ...string) (string, *process, error) {
	f, addr, err := loopbackListener()
	if err != nil {
		return "", nil, err
	}
	s.progress("starting %s on %s", role, addr)
	cmd := exec.Command(self, append([]string{"-role", role}, args...)...)
	p, err := s.kids.start(role, cmd, filepath.Join(s.tmp, role+".log"), f)
	if err != nil {
		return "", nil, err
	}
	base := "http://" + addr
	c := &http.Client{Timeout: 2 * time.Second}
	defer c.CloseIdleConnections()
	for deadline := time.Now().Add(readyTimeout); ; {
		resp, err := c.Get(base + sampleapi.HealthPath)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return base, p, nil
			}
		}
		switch {
		case p.Exited():
			return "", nil, fmt.Errorf("%s exited (%v)\n%s", role, p.Err(), p.logTail(20))
		case time.Now().After(deadline):
			p.stop()
			return "", nil, fmt.Errorf("%s not answering %s after %s\n%s", role, sampleapi.HealthPath, readyTimeout, p.logTail(20))
		case ctx.Err() != nil:
			return "", nil, ctx.Err()
		}
		time.Sleep(10 * time.Millisecond)
	}
}

package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/erpgate/erpgate/internal/proc"
	"github.com/erpgate/erpgate/sampleapi"
)

// upstreamConns is how many connections the gateway has open to the
// sample upstream.
var upstreamConns atomic.Int64

const (
	clientID   = "com.example/soak"
	systemUser = "svc-soak"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "soak:", err)
		}
		os.Exit(1)
	}
}

type options struct {
	duration      time.Duration
	workers       int
	maxHeap       float64 // bytes
	slack         float64 // goroutines and fds above the baseline
	keep          bool
	settleTimeout time.Duration
}

func run(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("soak", flag.ContinueOnError)
	var o options
	fs.DurationVar(&o.duration, "duration", 60*time.Second, "how long the load runs (at most 1h)")
	fs.IntVar(&o.workers, "workers", 128, "concurrent workers")
	heapMiB := fs.Int("max-heap-mib", 256, "bound on the gateway's go_memstats_heap_inuse_bytes after the load")
	fs.Float64Var(&o.slack, "slack", 20, "allowed growth of go_goroutines and process_open_fds over the pre-load level")
	fs.BoolVar(&o.keep, "keep", false, "keep the temp directory (config, SQLite file, logs)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if o.duration <= 0 || o.duration > time.Hour || o.workers < 1 || o.workers > 4096 {
		return errors.New("-duration must be in (0, 1h] and -workers in [1, 4096]")
	}
	o.maxHeap = float64(*heapMiB << 20)
	o.settleTimeout = 15 * time.Second

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	tmp, err := os.MkdirTemp("", "erpgate-soak-")
	if err != nil {
		return err
	}
	if o.keep {
		fmt.Fprintln(out, "temp dir:", tmp)
	} else {
		defer os.RemoveAll(tmp)
	}
	root, err := proc.ModuleRoot()
	if err != nil {
		return err
	}
	fmt.Fprintln(out, "building ./cmd/erpgate ...")
	bin := filepath.Join(tmp, "erpgate")
	if err := proc.Build(ctx, root, bin, "./cmd/erpgate"); err != nil {
		return err
	}

	up, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	// Counting the upstream's open connections tells the gateway's idle
	// upstream pool (a pool, not a leak) apart from leaked connections.
	upSrv := &http.Server{Handler: sampleapi.New(), ReadHeaderTimeout: 10 * time.Second,
		ConnState: func(_ net.Conn, st http.ConnState) {
			switch st {
			case http.StateNew:
				upstreamConns.Add(1)
			case http.StateClosed, http.StateHijacked:
				upstreamConns.Add(-1)
			}
		}}
	go func() { _ = upSrv.Serve(up) }()
	defer upSrv.Close()

	g, err := startGateway(ctx, bin, tmp, "http://"+up.Addr().String())
	if err != nil {
		return err
	}
	defer g.stop()
	return soak(ctx, g, o, out)
}

// stopTimeout is how long the gateway gets to exit after SIGTERM before
// it is killed.
const stopTimeout = 15 * time.Second

// gateway is the running `erpgate serve`.
type gateway struct {
	proc      *proc.Process
	publicURL string
	adminURL  string
	secret    string
	logPath   string
}

func startGateway(ctx context.Context, bin, dir, upstream string) (*gateway, error) {
	ports, err := freePorts(2)
	if err != nil {
		return nil, err
	}
	secret := rand.Text()
	sum := sha256.Sum256([]byte(secret))
	cfg := fmt.Sprintf(`# written by go run ./bench/soak
public_url: http://127.0.0.1:%[1]d
listen: 127.0.0.1:%[1]d
admin_listen: 127.0.0.1:%[2]d
store: {driver: sqlite, dsn: %[3]s}
license: {slots: 0}
limits:                     # on, so the limiter runs under the load, but never reached
  token_requests_per_second: 1000000
  token_burst: 1000000
users:
  - {login: %[4]s, name: Soak service, type: system}
apps:
  - uri: %[5]s
    name: Soak
    secret_hash: %[6]s
    system_user: %[4]s
    scope: read update sec  # sec: the admin API, for the accounting check
routes:
  - name: domain-read
    match: {path_prefix: /api/domain/, methods: [GET, HEAD]}
    upstream: %[7]s
    audience: DomainAPI
    scopes: [read]
log: {level: warn, audit: %[8]s}
`, ports[0], ports[1], strconv.Quote(filepath.Join(dir, "erpgate.db")), systemUser, clientID,
		base64.StdEncoding.EncodeToString(sum[:]), upstream, strconv.Quote(filepath.Join(dir, "audit.log")))
	cfgPath := filepath.Join(dir, "erpgate.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		return nil, err
	}
	logPath := filepath.Join(dir, "erpgate.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	cmd := exec.Command(bin, "serve", "--config", cfgPath)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = logFile, logFile
	p, err := proc.Start(cmd)
	if err != nil {
		return nil, err
	}
	g := &gateway{proc: p, secret: secret, logPath: logPath,
		publicURL: fmt.Sprintf("http://127.0.0.1:%d", ports[0]), adminURL: fmt.Sprintf("http://127.0.0.1:%d", ports[1])}
	if err := p.WaitReady(ctx, http.DefaultClient, g.adminURL+"/readyz", 50*time.Millisecond, 30*time.Second); err != nil {
		g.stop()
		return nil, fmt.Errorf("erpgate serve: %w:\n%s", err, tail(logPath, 20))
	}
	return g, nil
}

// stop stops the gateway within stopTimeout (SIGTERM, then SIGKILL).
func (g *gateway) stop() { _ = g.proc.Stop(stopTimeout) }

// op is one kind of request in the mix.
type op struct {
	name   string
	weight int
	do     func(ctx context.Context, s *state) error
}

// state is what the workers share.
type state struct {
	g      *gateway
	c      *http.Client
	admin  string // a token with scope sec
	mu     sync.Mutex
	tokens []string // ring of recent tokens
	next   int
}

func (s *state) addToken(t string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.tokens) < 512 {
		s.tokens = append(s.tokens, t)
		return
	}
	s.tokens[s.next] = t
	s.next = (s.next + 1) % len(s.tokens)
}

func (s *state) anyToken() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tokens[mrand.IntN(len(s.tokens))]
}

var mix = []op{
	{"token", 10, func(ctx context.Context, s *state) error {
		t, err := s.token(ctx, "read")
		if err == nil {
			s.addToken(t)
		}
		return err
	}},
	{"proxied GET", 65, func(ctx context.Context, s *state) error {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.g.publicURL+sampleapi.PersonsPath, nil)
		req.Header.Set("Authorization", "Bearer "+s.anyToken())
		return s.expect(req, http.StatusOK, `"auth"`)
	}},
	{"introspect", 15, func(ctx context.Context, s *state) error {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, s.g.publicURL+"/id/connect/introspect",
			strings.NewReader(url.Values{"token": {s.anyToken()}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(url.QueryEscape(clientID), url.QueryEscape(s.g.secret))
		return s.expect(req, http.StatusOK, `"active":true`)
	}},
	{"admin license", 10, func(ctx context.Context, s *state) error {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.g.adminURL+"/admin/license", nil)
		req.Header.Set("Authorization", "Bearer "+s.admin)
		return s.expect(req, http.StatusOK, `"used"`)
	}},
}

func (s *state) token(ctx context.Context, scope string) (string, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, s.g.publicURL+"/id/connect/token",
		strings.NewReader(url.Values{"grant_type": {"client_credentials"}, "scope": {scope}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(clientID), url.QueryEscape(s.g.secret))
	body, err := s.send(req, http.StatusOK, `"access_token"`)
	if err != nil {
		return "", err
	}
	var tr struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(body, &tr); err != nil {
		return "", fmt.Errorf("token response: %v", err)
	}
	return tr.AccessToken, nil
}

func (s *state) expect(req *http.Request, status int, contains string) error {
	_, err := s.send(req, status, contains)
	return err
}

func (s *state) send(req *http.Request, status int, contains string) ([]byte, error) {
	resp, err := s.c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("reading body: %v", err)
	}
	if resp.StatusCode != status || !strings.Contains(string(body), contains) {
		return nil, fmt.Errorf("%d %s", resp.StatusCode, truncate(string(body), 120))
	}
	return body, nil
}

type counts struct {
	ok, failed atomic.Int64
	mu         sync.Mutex
	errs       map[string]int // first words of each error, bounded
}

func (c *counts) fail(err error) {
	c.failed.Add(1)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.errs == nil {
		c.errs = map[string]int{}
	}
	k := truncate(err.Error(), 100)
	if _, ok := c.errs[k]; ok || len(c.errs) < 10 {
		c.errs[k]++
	}
}

const (
	netG  = "go_goroutines net of pool"
	netFD = "process_open_fds net of pool"
)

func soak(ctx context.Context, g *gateway, o options, out io.Writer) error {
	s := &state{g: g, c: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		MaxIdleConns: o.workers * 2, MaxIdleConnsPerHost: o.workers * 2, IdleConnTimeout: 30 * time.Second,
	}}}
	var err error
	if s.admin, err = s.token(ctx, "read sec"); err != nil {
		return fmt.Errorf("admin token: %w", err)
	}
	for range 8 {
		t, err := s.token(ctx, "read")
		if err != nil {
			return fmt.Errorf("first tokens: %w", err)
		}
		s.addToken(t)
	}
	// Baseline after a short warm-up, so lazily started pieces count in it.
	runMix(ctx, s, min(o.workers, 8), time.Second)
	s.c.CloseIdleConnections()
	time.Sleep(200 * time.Millisecond)
	before, err := gauges(s)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "soak: %d workers for %v against %s (pid %d)\n", o.workers, o.duration, g.publicURL, g.proc.Pid())
	start := time.Now()
	results := runMix(ctx, s, o.workers, o.duration)
	elapsed := time.Since(start)
	if ctx.Err() != nil {
		return ctx.Err()
	}

	var problems []string
	var total, failed int64
	fmt.Fprintf(out, "\n| request | ok | failed | per second |\n|---|---:|---:|---:|\n")
	for i, m := range mix {
		r := results[i]
		total += r.ok.Load() + r.failed.Load()
		failed += r.failed.Load()
		fmt.Fprintf(out, "| %s | %d | %d | %.0f |\n", m.name, r.ok.Load(), r.failed.Load(), float64(r.ok.Load())/elapsed.Seconds())
		for e, n := range r.errs {
			problems = append(problems, fmt.Sprintf("%s: %d× %s", m.name, n, e))
		}
	}
	fmt.Fprintf(out, "| all | %d | %d | %.0f |\n\n", total-failed, failed, float64(total-failed)/elapsed.Seconds())

	// The process after the load: idle connections closed, a moment to
	// let connection goroutines end.
	s.c.CloseIdleConnections()
	var after map[string]float64
	settled := false
	for deadline := time.Now().Add(o.settleTimeout); time.Now().Before(deadline); time.Sleep(250 * time.Millisecond) {
		if after, err = gauges(s); err != nil {
			return err
		}
		if after[netG] <= before[netG]+o.slack && after[netFD] <= before[netFD]+o.slack {
			settled = true
			break
		}
	}
	for _, k := range []string{"go_goroutines", "process_open_fds", "upstream_conns"} {
		fmt.Fprintf(out, "%-30s before %8.0f  after %8.0f\n", k, before[k], after[k])
	}
	for _, k := range []string{netG, netFD} {
		fmt.Fprintf(out, "%-30s before %8.0f  after %8.0f  (bound +%.0f)\n", k, before[k], after[k], o.slack)
	}
	fmt.Fprintf(out, "%-30s before %6.1f MiB  after %6.1f MiB  (bound %.0f MiB)\n", "go_memstats_heap_inuse_bytes",
		before["go_memstats_heap_inuse_bytes"]/(1<<20), after["go_memstats_heap_inuse_bytes"]/(1<<20), o.maxHeap/(1<<20))
	fmt.Fprintf(out, "%-30s %.1f MiB\n", "process_resident_memory_bytes", after["process_resident_memory_bytes"]/(1<<20))
	if !settled {
		problems = append(problems, fmt.Sprintf("goroutines %.0f -> %.0f or open fds %.0f -> %.0f (net of the upstream pool) grew by more than %.0f",
			before[netG], after[netG], before[netFD], after[netFD], o.slack))
	}
	if after["go_memstats_heap_inuse_bytes"] > o.maxHeap {
		problems = append(problems, fmt.Sprintf("heap in use %.1f MiB over the bound", after["go_memstats_heap_inuse_bytes"]/(1<<20)))
	}

	used, listed, open, err := accounting(s)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "license used %d, sessions listed %d, erpgate_sessions_open %v\n", used, listed, open)
	if used != listed {
		problems = append(problems, fmt.Sprintf("license used %d != %d sessions listed", used, listed))
	}
	if n, err := panics(g.logPath); err != nil || n > 0 {
		problems = append(problems, fmt.Sprintf("erpgate log: %d panics (%v)", n, err))
	}
	if g.proc.Exited() {
		problems = append(problems, fmt.Sprintf("erpgate exited during the soak (%v)", g.proc.Err()))
	}
	if len(problems) > 0 {
		slices.Sort(problems)
		fmt.Fprintln(out, "\nFAIL")
		for _, p := range problems {
			fmt.Fprintln(out, " -", p)
		}
		return errors.New("soak failed")
	}
	fmt.Fprintln(out, "\nPASS: no unexpected answer, goroutines/fds back within bounds, heap bounded, license == sessions")
	return nil
}

// runMix runs the mix with n workers for d; a request cut by the end of
// d is not counted.
func runMix(ctx context.Context, s *state, n int, d time.Duration) []*counts {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	res := make([]*counts, len(mix))
	for i := range res {
		res[i] = &counts{}
	}
	sum := 0
	for _, m := range mix {
		sum += m.weight
	}
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			for ctx.Err() == nil {
				k := mrand.IntN(sum)
				i := 0
				for ; k >= mix[i].weight; i++ {
					k -= mix[i].weight
				}
				err := mix[i].do(ctx, s)
				switch {
				case ctx.Err() != nil:
					return
				case err != nil:
					res[i].fail(err)
				default:
					res[i].ok.Add(1)
				}
			}
		})
	}
	wg.Wait()
	return res
}

var gaugeLine = regexp.MustCompile(`(?m)^(go_goroutines|process_open_fds|go_memstats_heap_inuse_bytes|process_resident_memory_bytes|erpgate_sessions_open) (\S+)$`)

func gauges(s *state) (map[string]float64, error) {
	resp, err := s.c.Get(s.g.adminURL + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	// The gateway keeps up to 256 idle connections per upstream for 90s,
	// two goroutines (read and write loop) and one file each: a pool,
	// not a leak. Counted out as "... net of pool".
	pool := float64(upstreamConns.Load())
	m := map[string]float64{"upstream_conns": pool}
	defer func() {
		m["go_goroutines net of pool"] = m["go_goroutines"] - 2*pool
		m["process_open_fds net of pool"] = m["process_open_fds"] - pool
	}()
	for _, l := range gaugeLine.FindAllStringSubmatch(string(b), -1) {
		v, err := strconv.ParseFloat(l[2], 64)
		if err != nil || math.IsNaN(v) {
			continue
		}
		m[l[1]] = v
	}
	if len(m) < 5 {
		return nil, fmt.Errorf("/metrics lacks go and process gauges: %v", m)
	}
	return m, nil
}

// accounting reads license use and the open sessions through the admin
// API.
func accounting(s *state) (used, listed int, open float64, err error) {
	get := func(path string, v any) error {
		req, _ := http.NewRequest(http.MethodGet, s.g.adminURL+path, nil)
		req.Header.Set("Authorization", "Bearer "+s.admin)
		body, err := s.send(req, http.StatusOK, "{")
		if err != nil {
			return fmt.Errorf("GET %s: %w", path, err)
		}
		return json.Unmarshal(body, v)
	}
	var lic struct {
		Used int `json:"used"`
	}
	var sess struct {
		Sessions []json.RawMessage `json:"sessions"`
	}
	if err := get("/admin/license", &lic); err != nil {
		return 0, 0, 0, err
	}
	if err := get("/admin/sessions", &sess); err != nil {
		return 0, 0, 0, err
	}
	m, err := gauges(s)
	if err != nil {
		return 0, 0, 0, err
	}
	return lic.Used, len(sess.Sessions), m["erpgate_sessions_open"], nil
}

func panics(path string) (int, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	n := 0
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if strings.Contains(sc.Text(), "panic") {
			n++
		}
	}
	return n, sc.Err()
}

func tail(path string, n int) string {
	b, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

func freePorts(n int) ([]int, error) {
	var ports []int
	var held []net.Listener
	defer func() {
		for _, l := range held {
			l.Close()
		}
	}()
	for len(ports) < n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		held = append(held, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

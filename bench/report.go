package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// report is everything a run measured, in the order it was measured.
type report struct {
	when     time.Time
	machine  machine
	opts     options
	rows     []row
	starts   []startup
	sessions *sessionsRun // nil: the phase was skipped
	proxied  *proxiedRun  // nil: the proxied phase did not run
	problems []string     // setup failures, shown under the tables
	aborted  error        // set when the run was interrupted
}

// row is one line of the main table.
type row struct {
	path  string
	res   *result
	ratio string // already formatted; "" for none
}

// startup is one erpgate process's start and footprint.
type startup struct {
	name    string
	readyIn time.Duration
	idleRSS int64 // KiB
	peakRSS int64 // KiB, VmHWM after its load phases
	err     error
}

type machine struct {
	cpus      int
	cpuModel  string
	goVersion string
	platform  string
	revision  string  // git describe of the checkout, "" if unknown
	loadavg   float64 // /proc/loadavg's 1-minute figure before the run; -1 unknown
}

func describeMachine(root string) machine {
	m := machine{
		cpus:      runtime.NumCPU(),
		cpuModel:  "unknown CPU",
		goVersion: runtime.Version(),
		platform:  runtime.GOOS + "/" + runtime.GOARCH,
		loadavg:   -1,
	}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			k, v, ok := strings.Cut(sc.Text(), ":")
			if ok && strings.TrimSpace(k) == "model name" {
				m.cpuModel = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		one, _, _ := strings.Cut(string(b), " ")
		if v, err := strconv.ParseFloat(one, 64); err == nil {
			m.loadavg = v
		}
	}
	cmd := exec.Command("git", "describe", "--always", "--dirty")
	cmd.Dir = root
	if out, err := cmd.Output(); err == nil {
		m.revision = strings.TrimSpace(string(out))
	}
	return m
}

// writeMarkdown renders the report.
func (r *report) writeMarkdown(w io.Writer) {
	m := r.machine
	fmt.Fprintf(w, "# erpgate benchmark\n\n")
	fmt.Fprintf(w, "- when: %s", r.when.UTC().Format("2006-01-02 15:04 MST"))
	if m.revision != "" {
		fmt.Fprintf(w, ", checkout %s", m.revision)
	}
	fmt.Fprintf(w, "\n- machine: %d CPUs (%s), %s, %s", m.cpus, m.cpuModel, m.platform, m.goVersion)
	if m.loadavg >= 0 {
		fmt.Fprintf(w, "; load average %.2f before the run", m.loadavg)
	}
	fmt.Fprintln(w)
	if m.loadavg > float64(m.cpus)/2 {
		fmt.Fprintf(w, "- **the machine was busy before the run (load average %.2f on %d CPUs)**: other work takes "+
			"a varying share of the CPUs, so even the ratios are unreliable; rerun on a quiet machine\n", m.loadavg, m.cpus)
	}
	fmt.Fprintf(w, "- load: %d workers, closed loop, HTTP/1.1 keep-alive, loopback; %s per path after %s warm-up, "+
		"in %d slices alternating with the paths of the same comparison; erpgate store %s\n",
		r.opts.workers, r.opts.duration, r.opts.warmup, rounds, r.opts.driver)
	fmt.Fprintf(w, "- **the load generator runs on the same %d CPUs as the server it measures**, so absolute "+
		"figures are lower than on a dedicated client; compare the ratios\n", m.cpus)
	if r.aborted != nil {
		fmt.Fprintf(w, "- **run stopped early: %v**; phases not run are marked\n", r.aborted)
	}

	fmt.Fprintf(w, "\n| path | req/s | p50 | p99 | CPU/req | ratio | errors |\n|---|---:|---:|---:|---:|---|---|\n")
	for _, rw := range r.rows {
		res := rw.res
		if res == nil {
			fmt.Fprintf(w, "| %s | — | — | — | — | — | not run |\n", rw.path)
			continue
		}
		errs := res.errorSummary()
		if res.err != nil {
			errs = strings.TrimPrefix(errs+"; "+errText(res.err), "; ")
		}
		if errs == "" {
			errs = "none"
		}
		if res.ok == 0 {
			fmt.Fprintf(w, "| %s | — | — | — | — | — | %s |\n", rw.path, cell(errs))
			continue
		}
		fmt.Fprintf(w, "| %s | %.0f | %s | %s | %s | %s | %s |\n", rw.path, res.rate(),
			latency(res.lat.quantile(0.50)), latency(res.lat.quantile(0.99)), cpuCell(res.cpuPerOp()), cell(rw.ratio), cell(errs))
	}
	fmt.Fprintf(w, "\nratio: bare proxy = its throughput / upstream direct; erpgate GET = its throughput / "+
		"bare proxy's, and its p99 / bare's; token endpoint = tokens/s / raw signatures/s of the same "+
		"algorithm (raw: go-jose in this process on %d goroutines, no load generator running); refresh_token = "+
		"refreshes/s / (raw signatures/s ÷ signatures per refresh: 2 when each returns an ID token too). "+
		"The refresh grant runs one rotating refresh-token chain per worker, each from its own sign-in "+
		"(authorization code + PKCE); only a 200 with a new refresh token counts. CPU/req: the CPU (user + "+
		"system, /proc/PID/stat) of the process answering — the upstream for direct, the proxy for the others, "+
		"not the upstream behind it — over its measured slices, per successful request.\n", m.cpus)

	if r.proxied != nil {
		r.proxied.writeMarkdown(w, r.opts.command)
	}

	if len(r.starts) > 0 {
		fmt.Fprintf(w, "\n| erpgate process | start → /readyz ready | RSS idle | RSS peak |\n|---|---:|---:|---:|\n")
		for _, s := range r.starts {
			if s.err != nil {
				fmt.Fprintf(w, "| %s | — | — | — (%s) |\n", s.name, cell(s.err.Error()))
				continue
			}
			fmt.Fprintf(w, "| %s | %s | %s | %s |\n", s.name, latency(s.readyIn), kib(s.idleRSS), kib(s.peakRSS))
		}
		fmt.Fprintf(w, "\nstart → ready is a first start on an empty store (signing key generated); "+
			"RSS idle is VmRSS 0.5 s after ready, peak is VmHWM after its load phases.\n")
	}
	if r.sessions != nil {
		r.sessions.writeMarkdown(w, r.opts)
	}
	if len(r.problems) > 0 {
		fmt.Fprintf(w, "\nProblems:\n\n")
		for _, p := range r.problems {
			fmt.Fprintf(w, "```\n%s\n```\n", strings.TrimSpace(p))
		}
	}
}

// proxiedRun is the proxied JWT call through erpgate and through the
// bare proxy (plain, and sending erpgate's extra headers), for issue
// 22's targets.
type proxiedRun struct {
	path               string // erpgate's row
	erp, bare, headers *result
}

// Issue 22's targets for a proxied JWT call against the bare proxy.
const (
	targetThroughput = 0.95                 // erpgate's req/s over bare's, at least
	targetP99        = 1.10                 // erpgate's p99 over bare's, at most
	targetCPUAbove   = 5 * time.Microsecond // erpgate's CPU per request above bare's, at most
)

// writeMarkdown renders the three ratios against their targets, what
// the larger request alone costs, and the command that reproduces them.
func (r *proxiedRun) writeMarkdown(w io.Writer, command string) {
	measured := func(a *result) bool { return a != nil && a.err == nil && a.ok > 0 }
	fmt.Fprintf(w, "\n| %s against the bare proxy (issue 22) | target | measured | met |\n|---|---:|---:|---|\n", r.path)
	if !measured(r.erp) || !measured(r.bare) {
		fmt.Fprintf(w, "| throughput, p99, CPU/req | — | — | not measured |\n")
	} else {
		tp := r.erp.rate() / r.bare.rate()
		fmt.Fprintf(w, "| throughput: req/s ÷ bare's | ≥ %.2f | %.2f | %s |\n", targetThroughput, tp, yesNo(tp >= targetThroughput))
		if p := p99Ratio(r.erp, r.bare); p != 0 {
			fmt.Fprintf(w, "| p99 latency ÷ bare's | ≤ %.2f | %.2f | %s |\n", targetP99, p, yesNo(p <= targetP99))
		}
		if ce, cb := r.erp.cpuPerOp(), r.bare.cpuPerOp(); ce > 0 && cb > 0 {
			fmt.Fprintf(w, "| CPU/req above bare's | ≤ %s | %s | %s |\n", micros(targetCPUAbove), micros(ce-cb), yesNo(ce-cb <= targetCPUAbove))
			if measured(r.headers) && r.headers.cpuPerOp() > 0 {
				ch := r.headers.cpuPerOp()
				fmt.Fprintf(w, "| of which the larger request (bare + erpgate's headers, above bare) | | %s | |\n", micros(ch-cb))
				fmt.Fprintf(w, "| of which erpgate's own work (above bare + erpgate's headers) | | %s | |\n", micros(ce-ch))
			}
		}
	}
	fmt.Fprintf(w, "\nreproduce: `%s`; erpgate's handler alone, in one process (the upstream's CPU included): "+
		"`go test ./gateway -run '^$' -bench GatewayHotPath -benchmem -benchtime 30000x -count 2`. "+
		"bare + erpgate's headers is the bare proxy also sending a fresh X-Request-Id (upstream and back) and the "+
		"identity headers erpgate sends for the bench's token, so what it costs above bare is what any proxy pays "+
		"for the larger request; CPU/req is of the proxy's process alone, as in the table.\n", command)
}

// micros is a signed CPU time in microseconds, to a tenth.
func micros(d time.Duration) string {
	return fmt.Sprintf("%+.1f µs", float64(d)/float64(time.Microsecond))
}

// writeMarkdown renders the sessions phase as its own table.
func (r *sessionsRun) writeMarkdown(w io.Writer, o options) {
	fmt.Fprintf(w, "\n| erpgate %s, sessions opened | in | sessions/s | counted: admin API / gauge | RSS before | RSS after | "+
		"per session | RSS peak | Go heap in use | ≤ 300 MiB at 100,000 | errors |\n|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|\n", sessionsAlg)
	errs := (&result{errs: r.errs}).errorSummary()
	if r.err != nil {
		errs = strings.TrimPrefix(errs+"; "+errText(r.err), "; ")
	}
	if errs == "" {
		errs = "none"
	}
	if r.opened == 0 {
		fmt.Fprintf(w, "| 0 of %d | — | — | — | %s | — | — | — | — | — | %s |\n", r.want, kib(r.rssBefore), cell(errs))
	} else {
		used, gauge := "—", "—"
		if r.used >= 0 {
			used = strconv.Itoa(r.used)
		}
		if r.gauge >= 0 {
			gauge = strconv.FormatFloat(r.gauge, 'f', 0, 64)
		}
		per := "—"
		if p := r.perSession(); p != 0 {
			per = fmt.Sprintf("%.2f KiB", p)
		}
		fmt.Fprintf(w, "| %s | %s | %.0f | %s | %s | %s | %s | %s | %s | %s | %s |\n",
			opened(r.opened, r.want), latency(r.elapsed), r.rate(), used+" / "+gauge, kib(r.rssBefore), kib(r.rssAfter),
			per, kib(r.rssPeak), kib(r.heapInuse), cell(r.verdict()), cell(errs))
	}
	fmt.Fprintf(w, "\nA separate erpgate (%s, %s store, license unlimited, tokens and sessions living 6 h) gets, "+
		"per session, one client_credentials token (a new sid) and one proxied GET with it, from %d workers. "+
		"RSS before is VmRSS 0.5 s after ready; after is VmRSS once the last session opened; peak is VmHWM then; "+
		"per session = (after − before) / sessions opened; Go heap in use is go_memstats_heap_inuse_bytes right after. "+
		"With fewer than 100,000 sessions the target column projects the per-session growth linearly, which overstates "+
		"it (fixed costs such as connections and buffers are spread over fewer sessions). Counted: the "+
		"erpgate_sessions_open gauge from /metrics and license slots used from GET /admin/license (the store's "+
		"open sessions), read after the RSS.\n",
		sessionsAlg, o.driver, o.workers)
}

// opened is "100000", or "9000 of 10000" when the phase fell short.
func opened(n, want int) string {
	if n == want {
		return strconv.Itoa(n)
	}
	return fmt.Sprintf("%d of %d", n, want)
}

// verdict checks RSS after against the 100,000-session target; a run
// with fewer sessions projects its per-session growth linearly.
func (r *sessionsRun) verdict() string {
	if r.rssAfter <= 0 {
		return "—"
	}
	if r.opened >= sessionsTargetCount {
		return yesNo(r.rssAfter <= sessionsTargetKiB) + ", " + kib(r.rssAfter)
	}
	p := r.perSession()
	if p == 0 {
		return "—"
	}
	proj := r.rssBefore + int64(p*sessionsTargetCount)
	return yesNo(proj <= sessionsTargetKiB) + ", projected " + kib(proj)
}

func yesNo(ok bool) string {
	if ok {
		return "yes"
	}
	return "no"
}

// errText is err for a table cell; an interrupted phase says so.
func errText(err error) string {
	if errors.Is(err, context.Canceled) {
		return "interrupted"
	}
	return err.Error()
}

// cpuCell is a CPU time per request, to a tenth of a microsecond.
func cpuCell(d time.Duration) string {
	if d <= 0 {
		return "—"
	}
	return fmt.Sprintf("%.1f µs", float64(d)/float64(time.Microsecond))
}

// cell makes s safe inside a Markdown table cell: one line, no pipes.
func cell(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return truncate(strings.ReplaceAll(s, "|", `\|`), 160)
}

func latency(d time.Duration) string {
	switch {
	case d <= 0:
		return "—"
	case d < time.Millisecond:
		return fmt.Sprintf("%.0f µs", float64(d)/float64(time.Microsecond))
	case d < time.Second:
		return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond))
	}
	return fmt.Sprintf("%.2f s", d.Seconds())
}

func kib(n int64) string {
	if n <= 0 {
		return "—"
	}
	return fmt.Sprintf("%.1f MiB", float64(n)/1024)
}

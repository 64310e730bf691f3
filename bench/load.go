package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// target is the request a load phase repeats.
type target struct {
	method string
	url    string
	header http.Header
	body   []byte // sent with every request; nil for none
	// check classifies a response: "" is a success, anything else is the
	// error class it is counted under. Nil accepts exactly 200.
	check func(status int, body []byte) string
}

// result is what one phase measured. A phase that could not run has err
// set and the report shows it in place of figures.
type result struct {
	ok      uint64        // successful responses (or signatures)
	elapsed time.Duration // from the first request to the last answer
	lat     histogram     // latency of successful operations
	errs    map[string]uint64
	err     error
	// cpu is the CPU the measured server process used meanwhile (user +
	// system); 0 when the phase names no process.
	cpu time.Duration
}

// cpuPerOp is cpu per successful operation; 0 when not measured.
func (r *result) cpuPerOp() time.Duration {
	if r == nil || r.ok == 0 {
		return 0
	}
	return r.cpu / time.Duration(r.ok)
}

// merge adds o, a later slice of the same phase, to r.
func (r *result) merge(o *result) {
	r.ok += o.ok
	r.cpu += o.cpu
	r.elapsed += o.elapsed
	r.lat.merge(&o.lat)
	if r.errs == nil {
		r.errs = map[string]uint64{}
	}
	for k, n := range o.errs {
		r.errs[k] += n
	}
	if r.err == nil {
		r.err = o.err
	}
}

// rate is successful operations per second (of the part that ran, if the
// phase was cut short).
func (r *result) rate() float64 {
	if r == nil || r.elapsed <= 0 {
		return 0
	}
	return float64(r.ok) / r.elapsed.Seconds()
}

// errorSummary is "404×12, conn reset×3", most frequent first.
func (r *result) errorSummary() string {
	type kv struct {
		k string
		n uint64
	}
	var all []kv
	for k, n := range r.errs {
		all = append(all, kv{k, n})
	}
	sort.Slice(all, func(i, j int) bool {
		if all[i].n != all[j].n {
			return all[i].n > all[j].n
		}
		return all[i].k < all[j].k
	})
	parts := make([]string, len(all))
	for i, e := range all {
		parts[i] = e.k + "×" + strconv.FormatUint(e.n, 10)
	}
	return strings.Join(parts, ", ")
}

// loadTimeout bounds one request of the load generator.
const loadTimeout = 10 * time.Second

// loadClient is the load generator's HTTP/1.1 keep-alive client: one
// idle connection kept per worker, no compression, no environment proxy.
func loadClient(workers int) *http.Client {
	return &http.Client{
		Timeout: loadTimeout,
		Transport: &http.Transport{
			Proxy:               nil,
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConns:        0, // no total cap: phases alternate between hosts
			MaxIdleConnsPerHost: workers,
			IdleConnTimeout:     90 * time.Second,
			DisableCompression:  true,
		},
	}
}

// runLoad sends t from workers concurrent workers, each waiting for its
// answer before the next request (closed loop), for d. Requests still in
// flight when d is up are finished and counted.
func runLoad(ctx context.Context, c *http.Client, t target, workers int, d time.Duration) *result {
	var stop atomic.Bool
	timer := time.AfterFunc(d, func() { stop.Store(true) })
	defer timer.Stop()
	ws := make([]*worker, workers)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range ws {
		ws[i] = &worker{errs: map[string]uint64{}}
		wg.Go(func() { ws[i].loop(ctx, c, t, &stop) })
	}
	wg.Wait()
	return collect(ctx, ws, time.Since(start))
}

// collect merges the workers of a phase that ran for elapsed.
func collect(ctx context.Context, ws []*worker, elapsed time.Duration) *result {
	r := &result{elapsed: elapsed, errs: map[string]uint64{}}
	for _, w := range ws {
		r.ok += w.lat.n
		r.lat.merge(&w.lat)
		for k, n := range w.errs {
			r.errs[k] += n
		}
	}
	if err := ctx.Err(); err != nil {
		r.err = err
	}
	return r
}

type worker struct {
	lat  histogram
	errs map[string]uint64
}

func (w *worker) loop(ctx context.Context, c *http.Client, t target, stop *atomic.Bool) {
	req, err := http.NewRequestWithContext(ctx, t.method, t.url, nil)
	if err != nil {
		w.errs["bad request: "+err.Error()]++
		return
	}
	req.Header = t.header.Clone()
	if req.Header == nil {
		req.Header = http.Header{}
	}
	check := t.check
	if check == nil {
		check = func(status int, _ []byte) string {
			if status == http.StatusOK {
				return ""
			}
			return strconv.Itoa(status)
		}
	}
	var buf bytes.Buffer
	for !stop.Load() && ctx.Err() == nil {
		// A request is reused once its response body is closed; only
		// the body reader is new each time.
		if t.body != nil {
			req.Body = io.NopCloser(bytes.NewReader(t.body))
			req.ContentLength = int64(len(t.body))
		}
		began := time.Now()
		resp, err := c.Do(req)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			w.errs[classify(err)]++
			time.Sleep(time.Millisecond) // don't spin on a dead server
			continue
		}
		buf.Reset()
		_, err = buf.ReadFrom(resp.Body)
		resp.Body.Close()
		took := time.Since(began)
		switch {
		case err != nil:
			w.errs[classify(err)]++
		default:
			if class := check(resp.StatusCode, buf.Bytes()); class != "" {
				w.errs[class]++
			} else {
				w.lat.record(took)
			}
		}
	}
}

// classify names a transport error briefly enough for a table cell.
func classify(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "conn refused"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return "conn reset"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "EOF"
	case errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		return "no local ports"
	}
	return "transport error"
}

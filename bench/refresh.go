package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// maxConcurrentSignIns bounds the sign-ins run at once before the refresh
// phase: each costs a few requests and a password check, and they are
// set-up, not load.
const maxConcurrentSignIns = 8

// refreshLoad drives the refresh grant (RFC 6749 §6). Refresh tokens
// rotate: each use returns a new one and spends the old (a reuse after
// the grace window revokes the whole family), so a fixed target cannot
// be repeated. Each worker owns one chain instead, from its own sign-in,
// and always sends the newest token of it, as one client would.
type refreshLoad struct {
	g      *gateway
	c      *http.Client
	chains []string // newest refresh token of each worker's chain; "" once lost
	// refreshed and withID count successful refreshes (warm-up included)
	// and those that returned an ID token too, for the ratio's divisor.
	refreshed, withID atomic.Uint64
}

// signIns signs benchLogin in n times, each in a browser of its own (so
// each gets its own identity session and refresh family), and returns a
// refreshLoad with one chain per sign-in that worked. err reports the
// first failure; the load is nil only when none worked.
func signIns(ctx context.Context, c *http.Client, g *gateway, n int) (*refreshLoad, error) {
	rl := &refreshLoad{g: g, c: c}
	var (
		mu       sync.Mutex
		firstErr error
		failed   int
		wg       sync.WaitGroup
	)
	sem := make(chan struct{}, maxConcurrentSignIns)
	for range n {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			si, err := g.signIn(ctx, c.Transport)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				failed++
				if firstErr == nil {
					firstErr = err
				}
				return
			}
			rl.chains = append(rl.chains, si.refreshToken)
		})
	}
	wg.Wait()
	if firstErr != nil {
		firstErr = fmt.Errorf("%d of %d sign-ins failed, the first: %w", failed, n, firstErr)
	}
	if len(rl.chains) == 0 {
		return nil, firstErr
	}
	return rl, firstErr
}

// run refreshes on every chain, one worker each, for d (closed loop, like
// runLoad). Only a 200 with a new refresh token counts as a success.
func (rl *refreshLoad) run(ctx context.Context, d time.Duration) *result {
	var stop atomic.Bool
	timer := time.AfterFunc(d, func() { stop.Store(true) })
	defer timer.Stop()
	ws := make([]*worker, len(rl.chains))
	var wg sync.WaitGroup
	start := time.Now()
	for i := range ws {
		ws[i] = &worker{errs: map[string]uint64{}}
		wg.Go(func() { rl.loop(ctx, i, ws[i], &stop) })
	}
	wg.Wait()
	r := collect(ctx, ws, time.Since(start))
	if r.ok == 0 && r.err == nil && rl.live() == 0 {
		r.err = errors.New("every refresh chain was lost")
	}
	return r
}

// loop is worker i's chain.
func (rl *refreshLoad) loop(ctx context.Context, i int, w *worker, stop *atomic.Bool) {
	for !stop.Load() && ctx.Err() == nil && rl.chains[i] != "" {
		form := url.Values{
			"grant_type":    {"refresh_token"},
			"refresh_token": {rl.chains[i]},
			"client_id":     {benchSPAID},
		}
		began := time.Now()
		status, body, err := postForm(ctx, rl.c, rl.g.tokenURL(), form)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			// The same token again: if the lost answer had rotated it,
			// a retry inside the reuse grace gets the same successor.
			w.errs[classify(err)]++
			time.Sleep(time.Millisecond)
			continue
		}
		took := time.Since(began)
		tr, err := parseTokenResponse(status, body)
		switch {
		case err != nil:
			class := strconv.Itoa(status)
			if tr.Error != "" {
				class += " " + tr.Error
			}
			w.errs[class]++
			if tr.Error == "invalid_grant" {
				rl.chains[i] = "" // revoked or spent: this chain is over
			}
		case tr.RefreshToken == "" || tr.RefreshToken == rl.chains[i]:
			// Nothing to go on with: the old token is spent either way.
			w.errs["200 without a new refresh_token"]++
			rl.chains[i] = ""
		default:
			w.lat.record(took)
			rl.chains[i] = tr.RefreshToken
			rl.refreshed.Add(1)
			if tr.IDToken != "" {
				rl.withID.Add(1)
			}
		}
	}
}

// live is how many chains can still refresh.
func (rl *refreshLoad) live() int {
	n := 0
	for _, t := range rl.chains {
		if t != "" {
			n++
		}
	}
	return n
}

// signatures is how many signatures one refresh costs: two when every
// successful refresh returned an ID token besides the access token (the
// issuer signs one when openid was granted), else one.
func (rl *refreshLoad) signatures() int {
	if n := rl.refreshed.Load(); n > 0 && rl.withID.Load() == n {
		return 2
	}
	return 1
}

// refreshRatio compares refreshes/s with raw signatures/s divided by the
// signatures one refresh costs: "0.75 of raw sign ÷2 (access + ID token)".
func refreshRatio(refresh, raw *result, signatures int) string {
	if signatures <= 1 {
		return throughputRatio(refresh, raw, "of raw sign")
	}
	if refresh.err != nil || raw.err != nil || refresh.rate() == 0 || raw.rate() == 0 {
		return ""
	}
	return fmt.Sprintf("%.2f of raw sign ÷%d (access + ID token)", refresh.rate()*float64(signatures)/raw.rate(), signatures)
}

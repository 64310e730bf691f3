package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// rotatingIssuer is a token endpoint with refresh rotation and no grace:
// each refresh token works once, and a spent one is invalid_grant.
type rotatingIssuer struct {
	mu    sync.Mutex
	live  map[string]bool
	n     int
	reuse int // spent tokens presented again
}

func (ri *rotatingIssuer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil || r.PostForm.Get("grant_type") != "refresh_token" ||
		r.PostForm.Get("client_id") != benchSPAID {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	ri.mu.Lock()
	defer ri.mu.Unlock()
	old := r.PostForm.Get("refresh_token")
	w.Header().Set("Content-Type", "application/json")
	if !ri.live[old] {
		ri.reuse++
		w.WriteHeader(http.StatusBadRequest)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": "invalid_grant"})
		return
	}
	delete(ri.live, old)
	ri.n++
	next := "rt-" + strconv.Itoa(ri.n)
	ri.live[next] = true
	_ = json.NewEncoder(w).Encode(map[string]string{"access_token": "at", "refresh_token": next, "id_token": "it"})
}

// Each worker must send only the newest token of its own chain: a
// rotation issuer refuses anything else, so every request succeeds only
// if the chains are kept right, across separate runs (slices) too.
func TestRefreshLoadKeepsEachChainCurrent(t *testing.T) {
	ri := &rotatingIssuer{live: map[string]bool{"a": true, "b": true, "c": true}}
	ts := httptest.NewServer(http.StripPrefix("/id/connect/token", ri))
	defer ts.Close()
	c := loadClient(3)
	defer c.CloseIdleConnections()
	rl := &refreshLoad{g: &gateway{publicURL: ts.URL}, c: c, chains: []string{"a", "b", "c"}}

	var total uint64
	for range 2 {
		r := rl.run(context.Background(), 50*time.Millisecond)
		if r.err != nil || len(r.errs) > 0 || r.ok == 0 {
			t.Fatalf("run: ok %d, errors %v, err %v", r.ok, r.errs, r.err)
		}
		total += r.ok
	}
	if ri.reuse != 0 || total != uint64(ri.n) || rl.refreshed.Load() != total {
		t.Errorf("%d refreshes counted, issuer rotated %d, %d reuses", total, ri.n, ri.reuse)
	}
	if rl.signatures() != 2 {
		t.Errorf("signatures() = %d with an ID token on every refresh, want 2", rl.signatures())
	}
	for i, tok := range rl.chains {
		if !ri.live[tok] {
			t.Errorf("chain %d holds %q, which is not the issuer's live token", i, tok)
		}
	}
}

// A chain the issuer refuses is dropped, counted as an error, and the
// others go on.
func TestRefreshLoadDropsALostChain(t *testing.T) {
	ri := &rotatingIssuer{live: map[string]bool{"a": true}}
	ts := httptest.NewServer(http.StripPrefix("/id/connect/token", ri))
	defer ts.Close()
	c := loadClient(2)
	defer c.CloseIdleConnections()
	rl := &refreshLoad{g: &gateway{publicURL: ts.URL}, c: c, chains: []string{"a", "spent"}}
	r := rl.run(context.Background(), 50*time.Millisecond)
	if r.ok == 0 || r.errs["400 invalid_grant"] != 1 || len(r.errs) != 1 {
		t.Errorf("ok %d, errors %v; want successes and one 400 invalid_grant", r.ok, r.errs)
	}
	if rl.chains[1] != "" || rl.live() != 1 {
		t.Errorf("chains after the run: %q", rl.chains)
	}
}

func TestRefreshRatio(t *testing.T) {
	refresh := &result{ok: 750, elapsed: time.Second}
	raw := &result{ok: 2000, elapsed: time.Second}
	if got, want := refreshRatio(refresh, raw, 2), "0.75 of raw sign ÷2 (access + ID token)"; got != want {
		t.Errorf("two signatures: %q, want %q", got, want)
	}
	if got, want := refreshRatio(refresh, raw, 1), "0.38 of raw sign"; got != want {
		t.Errorf("one signature: %q, want %q", got, want)
	}
	if got := refreshRatio(&result{err: context.Canceled}, raw, 2); got != "" {
		t.Errorf("failed refresh: %q, want none", got)
	}
	var rl refreshLoad
	if rl.signatures() != 1 {
		t.Error("no refresh yet: want one signature")
	}
	rl.refreshed.Store(10)
	rl.withID.Store(9)
	if rl.signatures() != 1 {
		t.Error("a refresh without an ID token: want one signature")
	}
	if !strings.Contains(refreshRatio(refresh, raw, rl.signatures()), "0.38") {
		t.Error("ratio does not follow signatures()")
	}
}

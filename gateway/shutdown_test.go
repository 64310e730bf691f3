package gateway

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/erpgate/erpgate/config"
	"github.com/erpgate/erpgate/reftoken"
	"github.com/erpgate/erpgate/sampleapi"
	"github.com/erpgate/erpgate/store"
	"github.com/erpgate/erpgate/store/sqlite"
)

// TestServeShutdownFlushes: when serve's context ends (SIGTERM), it
// returns cleanly and Close writes what was only in memory — a session's
// last-seen time, a reference token's last use — before the store closes.
func TestServeShutdownFlushes(t *testing.T) {
	dir := t.TempDir()
	up := httptest.NewServer(sampleapi.New())
	t.Cleanup(up.Close)
	raw, err := os.ReadFile("../config.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dsn := filepath.Join(dir, "erpgate.db")
	// public_url names the listener: only its host gets past the host
	// check (421).
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	listen := ln.Addr().String()
	ln.Close()
	yml := allowRefTokens(strings.NewReplacer(
		"http://localhost:8080", "http://"+listen,
		"http://127.0.0.1:8081", up.URL,
		"data/erpgate.db", dsn,
		"\nlisten: 127.0.0.1:8080", "\nlisten: "+listen,
		"admin_listen: 127.0.0.1:9090", "admin_listen: 127.0.0.1:0",
	).Replace(string(raw)))
	f, err := config.Parse([]byte(yml), nil)
	if err != nil {
		t.Fatal(err)
	}
	g, err := newGateway(context.Background(), f, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	t.Cleanup(func() {
		if !closed {
			g.Close()
		}
	})
	sat, err := g.reftokens.Issue(context.Background(), reftoken.IssueRequest{
		Type: store.ServiceAccessToken, ClientID: "com.example/nightly-sync", Scopes: []string{"read"}, ExpiresIn: time.Hour,
	})
	if err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addr := make(chan net.Addr, 1)
	served := make(chan error, 1)
	go func() { served <- g.Run(ctx, func(main, _ net.Addr) { addr <- main }) }()
	var base string
	select {
	case a := <-addr:
		base = fmt.Sprintf("http://%s", a)
	case err := <-served:
		t.Fatalf("serve: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not start")
	}

	alice := mint(t, g, "alice", "sid-shutdown", false, "read")
	if code, body := call(t, "GET", base+sampleapi.PersonsPath, alice); code != 200 {
		t.Fatalf("alice: %d %s", code, body)
	}
	time.Sleep(20 * time.Millisecond) // the store keeps milliseconds
	lastCall := time.Now().Truncate(time.Millisecond)
	if code, body := call(t, "GET", base+sampleapi.PersonsPath, alice); code != 200 {
		t.Fatalf("alice again: %d %s", code, body)
	}
	if code, body := call(t, "GET", base+sampleapi.PersonsPath, sat.Value); code != 200 {
		t.Fatalf("SAT: %d %s", code, body)
	}

	cancel() // as SIGTERM does
	select {
	case err := <-served:
		if err != nil {
			t.Fatalf("serve after shutdown: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("serve did not return after its context ended")
	}
	if err := g.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	closed = true

	st, err := sqlite.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	s, err := st.Session(context.Background(), "sid-shutdown")
	if err != nil {
		t.Fatal(err)
	}
	if s.LastSeenAt.Before(lastCall) {
		t.Errorf("session last seen %v, before the last call at %v: not flushed at shutdown", s.LastSeenAt, lastCall)
	}
	rt, err := st.ReferenceToken(context.Background(), sat.Token.ID)
	if err != nil {
		t.Fatal(err)
	}
	if rt.LastUsedAt.IsZero() {
		t.Error("the reference token's last use was not written at shutdown")
	}
}

package postgres

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/erpgate/erpgate/store"
	"github.com/erpgate/erpgate/store/storetest"
)

// BenchmarkOpenSessionParallel opens new sessions from 64 goroutines on
// the real server, under a cap far away and without one: every open
// locks its session's shard of the license count and moves it, so this
// is the rate at which one replica's pool opens sessions.
//
//	go test ./store/postgres -run '^$' -bench OpenSessionParallel
func BenchmarkOpenSessionParallel(b *testing.B) {
	for _, lic := range []store.License{{Slots: 10_000_000}, {}} {
		b.Run(fmt.Sprintf("slots=%d", lic.Slots), func(b *testing.B) { benchOpenParallel(b, lic) })
	}
}

func benchOpenParallel(b *testing.B, lic store.License) {
	s, err := Open(b.Context(), schemaDSN(b))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	storetest.OpenSessionsParallel(b, s, lic)
}

// BenchmarkOpensVsPgbench compares, in one run on one server, the rate at
// which two replicas open sessions in parallel (two stores, each with its
// own pool of pgbenchClients/2 connections, under a cap far away) with
// pgbench -N on the same number of connections: a write-only transaction
// with no hot row, the server's own measure of what it can commit. Three
// alternating rounds; the ratio per round and the median are reported
// (issue 22's target: at least 0.8).
//
//	go test ./store/postgres -run '^$' -bench OpensVsPgbench -benchtime 1x
func BenchmarkOpensVsPgbench(b *testing.B) {
	requireServer(b)
	pgbench, err := exec.LookPath("pgbench")
	if err != nil {
		if os.Getenv("CI") == "true" {
			b.Fatal("pgbench is not installed (apt-get install postgresql-contrib)")
		}
		b.Skip("pgbench is not installed")
	}
	cfg, err := pgx.ParseConfig(baseDSN())
	if err != nil {
		b.Fatal(err)
	}
	pgbenchArgs := []string{"-h", cfg.Host, "-p", strconv.Itoa(int(cfg.Port)), "-U", cfg.User}
	preparePgbench(b, cfg, pgbench, pgbenchArgs)

	dsn := withParam(b, schemaDSN(b), "pool_max_conns", strconv.Itoa(pgbenchClients/2))
	var replicas []*Store
	for range 2 {
		s, err := Open(b.Context(), dsn)
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		replicas = append(replicas, s)
	}

	var ratios []float64
	for round := 1; round <= 3; round++ {
		tps := runPgbench(b, pgbench, pgbenchArgs)
		opens := openFor(b, replicas, store.License{Slots: 10_000_000}, benchRound)
		ratios = append(ratios, opens/tps)
		b.Logf("round %d: pgbench -N %.0f tps, two replicas %.0f opens/s: %.2f×", round, tps, opens, opens/tps)
	}
	slices.Sort(ratios)
	b.ReportMetric(ratios[1], "x_pgbench")
}

const (
	// pgbenchClients is the connections on both sides: two replicas of
	// pgx's default pool on 2 CPUs (4 each).
	pgbenchClients = 8
	benchRound     = 3 * time.Second
	pgbenchDB      = "erpgate_pgbench"
)

// preparePgbench creates pgbench's database and tables once.
func preparePgbench(b *testing.B, cfg *pgx.ConnConfig, pgbench string, args []string) {
	b.Helper()
	conn, err := pgx.ConnectConfig(b.Context(), cfg)
	if err != nil {
		b.Fatal(err)
	}
	var exists bool
	if err := conn.QueryRow(b.Context(), "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", pgbenchDB).Scan(&exists); err != nil {
		b.Fatal(err)
	}
	if !exists {
		if _, err := conn.Exec(b.Context(), "CREATE DATABASE "+pgbenchDB); err != nil {
			b.Fatal(err)
		}
	}
	conn.Close(b.Context())
	if out, err := exec.CommandContext(b.Context(), pgbench, append(args, "-i", "-q", "-s", "1", pgbenchDB)...).CombinedOutput(); err != nil {
		b.Fatalf("pgbench -i: %v\n%s", err, out)
	}
}

var pgbenchTPS = regexp.MustCompile(`tps = ([0-9.]+) \(without initial connection time\)`)

// runPgbench runs pgbench -N for benchRound and returns its tps.
func runPgbench(b *testing.B, pgbench string, args []string) float64 {
	b.Helper()
	args = append(args, "-N", "-n", "-c", strconv.Itoa(pgbenchClients), "-j", "2", "-T", strconv.Itoa(int(benchRound.Seconds())), pgbenchDB)
	out, err := exec.CommandContext(b.Context(), pgbench, args...).CombinedOutput()
	m := pgbenchTPS.FindSubmatch(out)
	if err != nil || m == nil {
		b.Fatalf("pgbench -N: %v\n%s", err, out)
	}
	tps, err := strconv.ParseFloat(string(m[1]), 64)
	if err != nil {
		b.Fatal(err)
	}
	return tps
}

// openFor opens new sessions on every replica from 4 goroutines per
// connection for d, and returns opens per second.
func openFor(b *testing.B, replicas []*Store, lic store.License, d time.Duration) float64 {
	b.Helper()
	ctx, cancel := context.WithTimeout(b.Context(), d)
	defer cancel()
	var n atomic.Int64
	var failed atomic.Value
	now := time.Now()
	prefix := fmt.Sprintf("vs-%d-", time.Now().UnixNano())
	var wg sync.WaitGroup
	start := time.Now()
	for _, s := range replicas {
		for range 4 * pgbenchClients / len(replicas) {
			wg.Go(func() {
				for ctx.Err() == nil {
					sess := store.Session{ID: prefix + strconv.FormatInt(n.Add(1), 10), Subject: "u", ClientID: "app",
						Kind: store.SessionUser, OpenedAt: now, LastSeenAt: now}
					if _, err := s.OpenSession(ctx, sess, lic); err != nil && ctx.Err() == nil {
						failed.Store(err)
						return
					}
				}
			})
		}
	}
	wg.Wait()
	if err, _ := failed.Load().(error); err != nil {
		b.Fatal(err)
	}
	return float64(n.Load()) / time.Since(start).Seconds()
}

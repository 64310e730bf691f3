package live

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/erpgate/erpgate/authority"
	"github.com/erpgate/erpgate/internal/testauth"
	"github.com/erpgate/erpgate/metrics"
)

// BenchmarkRecheck is one recheck pass over 10,000 live connections of
// 1,000 sessions, against the authority as production wires it: its
// cost bounds how many connections a 400ms recheck can follow.
//
//	go test ./live -run '^$' -bench Recheck -benchmem
func BenchmarkRecheck(b *testing.B) {
	a := testauth.New(b, testauth.Config{})
	r, err := New(Config{
		Judge: a.Authority, Clock: a.Now, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Metrics: metrics.NewLive(prometheus.NewRegistry()),
	})
	if err != nil {
		b.Fatal(err)
	}
	for i := range 1000 {
		tok := a.UserToken("alice", testauth.WebApp, fmt.Sprintf("sid-%d", i), "read")
		caller, ref := a.Authority.Authenticate(context.Background(), authority.Credential{Source: authority.SourceBearer, Token: tok},
			authority.Door{Audiences: testauth.Audiences, OpenSession: true})
		if ref != nil {
			b.Fatal(ref)
		}
		for range 10 {
			r.Add(&Conn{Kind: KindWebSocket, Caller: caller, Close: func(Reason) { b.Error("closed") }})
		}
	}
	b.ResetTimer()
	for b.Loop() {
		r.Recheck(context.Background())
	}
}

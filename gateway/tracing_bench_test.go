package gateway

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/erpgate/erpgate/sampleapi"
	"github.com/erpgate/erpgate/tracing/tracingtest"
)

// BenchmarkTracingCost is what tracing costs a proxied call: three
// gateways on the example config in front of one upstream, tracing off,
// on with every request sampled (exported over OTLP/HTTP to a real
// receiver) and on with none sampled (ratio 0: spans are made but not
// recorded). Each iteration sends one call to each, so all three see the
// same machine state; the ratios are each traced gateway's throughput as
// a share of the untraced one's (1.0 = tracing is free):
//
//	go test ./gateway -run '^$' -bench TracingCost -benchtime 3000x
//
// Compare only numbers from one run.
func BenchmarkTracingCost(b *testing.B) {
	rcv := tracingtest.Start(b)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"value":[{"Id":1,"Name":"Maria"}]}`)
	}))
	b.Cleanup(up.Close)
	type target struct {
		name, url, token string
		spent            time.Duration
	}
	var targets []*target
	for _, c := range []struct{ name, extra string }{
		{"off", ""},
		{"sampled", fmt.Sprintf("tracing: {exporter: otlp-http, endpoint: %q, sampling_ratio: \"1\"}\n", rcv.HTTPURL)},
		{"unsampled", fmt.Sprintf("tracing: {exporter: otlp-http, endpoint: %q, sampling_ratio: \"0\"}\n", rcv.HTTPURL)},
	} {
		front := startExampleGateway(b, io.Discard, up.URL, c.extra)
		targets = append(targets, &target{name: c.name, url: front.URL + sampleapi.PersonsPath, token: demoToken(b, front.URL)})
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	call := func(t *target) {
		req, _ := http.NewRequest(http.MethodGet, t.url, nil)
		req.Header.Set("Authorization", "Bearer "+t.token)
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("%s: status %d", t.name, resp.StatusCode)
		}
	}
	for _, t := range targets {
		call(t) // opens the session, warms the connection and the token cache
	}
	b.ResetTimer()
	for b.Loop() {
		for _, t := range targets {
			start := time.Now()
			call(t)
			t.spent += time.Since(start)
		}
	}
	n := float64(b.N)
	for _, t := range targets {
		b.ReportMetric(float64(t.spent.Nanoseconds())/n, t.name+"-ns/req")
	}
	b.ReportMetric(float64(targets[0].spent)/float64(targets[1].spent), "sampled-ratio")
	b.ReportMetric(float64(targets[0].spent)/float64(targets[2].spent), "unsampled-ratio")
}

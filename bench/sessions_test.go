package main

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestGaugeValue(t *testing.T) {
	const metrics = `# HELP erpgate_sessions_open ERP sessions currently open.
# TYPE erpgate_sessions_open gauge
erpgate_sessions_opened_total 7
erpgate_sessions_open 100000
erpgate_license_slots_used 99999 1700000000000
`
	for _, tc := range []struct {
		name string
		want float64
	}{
		{"erpgate_sessions_open", 100000},
		{"erpgate_license_slots_used", 99999}, // with a timestamp
	} {
		got, err := gaugeValue(strings.NewReader(metrics), tc.name)
		if err != nil || got != tc.want {
			t.Errorf("%s = %v, %v; want %v", tc.name, got, err, tc.want)
		}
	}
	if _, err := gaugeValue(strings.NewReader(metrics), "erpgate_license_slots_limit"); err == nil {
		t.Error("a missing gauge must be an error")
	}
}

func TestSessionsTable(t *testing.T) {
	o := options{driver: "sqlite", workers: 64}
	for _, tc := range []struct {
		name string
		run  sessionsRun
		want string
	}{
		{
			name: "target count, under the bound",
			run: sessionsRun{want: 100000, opened: 100000, elapsed: 40 * time.Second, used: 100000, gauge: 100000,
				rssBefore: 20 * 1024, rssAfter: 220 * 1024, rssPeak: 240 * 1024, heapInuse: 150 * 1024},
			want: "| 100000 | 40.00 s | 2500 | 100000 / 100000 | 20.0 MiB | 220.0 MiB | 2.05 KiB | 240.0 MiB | 150.0 MiB | yes, 220.0 MiB | none |",
		},
		{
			name: "fewer sessions: projected",
			run: sessionsRun{want: 10000, opened: 10000, elapsed: 5 * time.Second, used: 10000, gauge: 10003,
				rssBefore: 20 * 1024, rssAfter: 60 * 1024, rssPeak: 61 * 1024},
			want: "| 10000 | 5.00 s | 2000 | 10000 / 10003 | 20.0 MiB | 60.0 MiB | 4.10 KiB | 61.0 MiB | — | no, projected 420.0 MiB | none |",
		},
		{
			name: "cut short, gauge unknown",
			run: sessionsRun{want: 1000, opened: 900, elapsed: time.Second, used: 900, gauge: -1,
				rssBefore: 20 * 1024, rssAfter: 21 * 1024, rssPeak: 21 * 1024,
				errs: map[string]uint64{"GET: 502": 100}, err: errors.New("stopped after 100 failures")},
			want: "| 900 of 1000 | 1.00 s | 900 | 900 / — | 20.0 MiB | 21.0 MiB | 1.14 KiB | 21.0 MiB | — | yes, projected 131.1 MiB | GET: 502×100; stopped after 100 failures |",
		},
		{
			name: "did not start",
			run:  sessionsRun{want: 100000, used: -1, gauge: -1, err: errors.New("did not start")},
			want: "| 0 of 100000 | — | — | — | — | — | — | — | — | — | did not start |",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b strings.Builder
			tc.run.writeMarkdown(&b, o)
			if !strings.Contains(b.String(), tc.want+"\n") {
				t.Errorf("table lacks\n%s\n%s", tc.want, b.String())
			}
		})
	}
}

// The whole report carries the sessions table when the phase ran.
func TestReportIncludesSessions(t *testing.T) {
	r := &report{opts: options{duration: time.Second, workers: 4, driver: "memory"},
		sessions: &sessionsRun{want: 10, used: -1, gauge: -1, err: errors.New("no upstream")}}
	var b strings.Builder
	r.writeMarkdown(&b)
	if !strings.Contains(b.String(), "| 0 of 10 |") || !strings.Contains(b.String(), "no upstream |") {
		t.Errorf("report lacks the sessions row:\n%s", b.String())
	}
}

package logattr

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// TestCleanJSON: through a JSON handler, durations are float seconds
// under key_seconds (nested ones too) and empty fields are gone; the
// rest is untouched.
func TestCleanJSON(t *testing.T) {
	var buf bytes.Buffer
	var nilErr error
	var nilPtr *int
	l := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{ReplaceAttr: Clean}))
	l.With("client_id", "", "route", "domain-read").Info("access",
		"duration", 1843210*time.Nanosecond, "timeout_seconds", 5*time.Second, "deadline", 30*time.Second,
		"subject", "", "needs_restart", []string(nil), "scopes", []string{}, "m", map[string]int{},
		"err", nilErr, "p", nilPtr, "status", 0, "ok", false, "ratio", 0.0,
		slog.Group("upstream", "elapsed", 1500*time.Millisecond, "host", ""))

	var line map[string]any
	if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
		t.Fatalf("%v: %s", err, buf.Bytes())
	}
	want := map[string]any{
		"level": "INFO", "msg": "access", "route": "domain-read",
		"duration_seconds": 0.00184321, "timeout_seconds": 5.0, "deadline_seconds": 30.0,
		"status": 0.0, "ok": false, "ratio": 0.0,
		"upstream": map[string]any{"elapsed_seconds": 1.5},
	}
	delete(line, "time")
	if len(line) != len(want) {
		t.Errorf("line has %d fields, want %d: %s", len(line), len(want), buf.Bytes())
	}
	for k, w := range want {
		got, _ := json.Marshal(line[k])
		exp, _ := json.Marshal(w)
		if !bytes.Equal(got, exp) {
			t.Errorf("%s = %s, want %s", k, got, exp)
		}
	}
}

// TestCleanText: the text format follows the same rules.
func TestCleanText(t *testing.T) {
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{ReplaceAttr: Clean})).
		Warn("", "deadline", 2500*time.Millisecond, "request_id", "", "err", errors.New("boom"))
	got := buf.String()
	for _, want := range []string{`msg=""`, "deadline_seconds=2.5", "err=boom"} {
		if !strings.Contains(got, want) {
			t.Errorf("%q lacks %q", got, want)
		}
	}
	if strings.Contains(got, "request_id") || strings.Contains(got, "deadline=") {
		t.Errorf("%q kept an empty field or a raw duration", got)
	}
}

func TestEmpty(t *testing.T) {
	for _, tc := range []struct {
		v    slog.Value
		want bool
	}{
		{slog.StringValue(""), true},
		{slog.StringValue(" "), false},
		{slog.AnyValue(nil), true},
		{slog.AnyValue([]int{}), true},
		{slog.AnyValue([]int{0}), false},
		{slog.AnyValue(map[string]string{}), true},
		{slog.GroupValue(), true},
		{slog.IntValue(0), false},
		{slog.BoolValue(false), false},
		{slog.DurationValue(0), false},
		{slog.AnyValue(errors.New("")), false},
	} {
		if got := Empty(tc.v); got != tc.want {
			t.Errorf("Empty(%v) = %v, want %v", tc.v, got, tc.want)
		}
	}
}

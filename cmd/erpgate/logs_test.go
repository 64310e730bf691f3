package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/erpgate/erpgate/audit"
	"github.com/erpgate/erpgate/config"
)

// TestAuditLogSinks: log.audit sends audit lines to stderr (the default),
// stdout, or a 0600 file appended to and reopened for logrotate; lines
// carry no empty field.
func TestAuditLogSinks(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	for _, sink := range []string{"", config.AuditStderr, config.AuditStdout, path} {
		var stdout, stderr bytes.Buffer
		a, err := openAuditLog(config.Log{Audit: sink}, &stdout, &stderr, newLogger(config.Log{}, &stderr))
		if err != nil {
			t.Fatalf("%q: %v", sink, err)
		}
		a.Log(context.Background(), audit.Event{Name: audit.Logout, Subject: "alice"})
		var got string
		switch sink {
		case config.AuditStdout:
			got = stdout.String()
			if stderr.Len() != 0 {
				t.Errorf("stdout sink wrote to stderr: %s", stderr.String())
			}
		case path:
			if a.reopen == nil {
				t.Error("a file sink has no reopen for SIGHUP")
			}
			a.close()
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			got = string(b)
			if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
				t.Errorf("audit file mode %v, want 0600", st.Mode())
			}
			if stdout.Len()+stderr.Len() != 0 {
				t.Errorf("file sink wrote to a stream: %q %q", stdout.String(), stderr.String())
			}
		default:
			got = stderr.String()
			if a.reopen != nil {
				t.Errorf("%q: a stream has a reopen", sink)
			}
		}
		if !strings.Contains(got, `"event":"logout","subject":"alice"`) || strings.Contains(got, `""`) {
			t.Errorf("%q: audit line %q", sink, got)
		}
	}
	if _, err := openAuditLog(config.Log{Audit: filepath.Join(t.TempDir(), "no", "dir", "a.log")}, nil, nil, nil); err == nil || !strings.Contains(err.Error(), "log.audit") {
		t.Errorf("audit file in a missing directory: %v", err)
	}
}

// TestProcessLogRules: the process log, JSON or text, writes durations
// as seconds under key_seconds and leaves empty fields out.
func TestProcessLogRules(t *testing.T) {
	for _, format := range []string{config.LogJSON, config.LogText} {
		var buf bytes.Buffer
		newLogger(config.Log{Format: format}, &buf).Info("erpgate shutting down", "deadline", 30*time.Second, "route", "")
		got := buf.String()
		if !strings.Contains(got, "deadline_seconds") || !strings.Contains(got, "30") || strings.Contains(got, "route") {
			t.Errorf("%s: %s", format, got)
		}
	}
}

package gateway

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/erpgate/erpgate/audit"
	"github.com/erpgate/erpgate/config"
	"github.com/erpgate/erpgate/store/memory"
)

// lockedBuffer is a process log the test reads while the gateway writes.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// serveWithSIGHUP serves a gateway of the example config whose audit
// log is an audit.File at path, with reopen as Config.ReopenLogs (nil:
// the file's Reopen). It returns the SIGHUP channel and the process log.
func serveWithSIGHUP(t *testing.T, path string, reopen func(*audit.File) func() error) (chan os.Signal, *lockedBuffer) {
	t.Helper()
	raw, err := os.ReadFile("../config.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	f, err := config.Parse(raw, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	file, err := audit.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if reopen == nil {
		reopen = func(f *audit.File) func() error { return f.Reopen }
	}
	hup := make(chan os.Signal, 1)
	var plog lockedBuffer
	g, err := New(context.Background(), Config{
		File: f, Store: memory.New(), Logger: slog.New(slog.NewJSONHandler(&plog, nil)),
		Audit:      audit.New(slog.NewJSONHandler(file, nil)),
		LoadConfig: func() (*config.File, error) { return config.Parse(raw, noEnv) },
		SIGHUP:     hup, ReopenLogs: reopen(file),
	})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	aln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- g.Serve(ctx, ln, aln) }()
	t.Cleanup(func() {
		cancel()
		<-served
		g.Close()
		file.Close()
	})
	return hup, &plog
}

func fileHas(path, s string) bool {
	b, _ := os.ReadFile(path)
	return strings.Contains(string(b), s)
}

// TestSIGHUPReopensAuditFile does what logrotate does: rename the audit
// file, send SIGHUP; the reload's audit line lands in a new file at the
// configured path, nothing more in the renamed one.
func TestSIGHUPReopensAuditFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	hup, plog := serveWithSIGHUP(t, path, nil)

	hup <- os.Interrupt // the first reload: written before the rotation
	waitFor(t, func() bool { return fileHas(path, `"event":"config.reloaded"`) })
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	hup <- os.Interrupt
	waitFor(t, func() bool { return fileHas(path, `"event":"config.reloaded"`) })

	old, _ := os.ReadFile(path + ".1")
	if n := strings.Count(string(old), "config.reloaded"); n != 1 {
		t.Errorf("the rotated file has %d reload lines, want the first only:\n%s", n, old)
	}
	if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("new audit file: %v %v, want mode 0600", st.Mode(), err)
	}
	if strings.Contains(plog.String(), "not reopened") {
		t.Errorf("a reopen failure was logged:\n%s", plog)
	}
}

// TestSIGHUPReopenFailureReported: a reopen that fails is on the process
// log, the reload still happens, and audit lines go on to the open file.
func TestSIGHUPReopenFailureReported(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	hup, plog := serveWithSIGHUP(t, path, func(*audit.File) func() error {
		return func() error { return errors.New("audit file: permission denied") }
	})
	hup <- os.Interrupt
	waitFor(t, func() bool { return fileHas(path, `"event":"config.reloaded"`) })
	waitFor(t, func() bool {
		return strings.Contains(plog.String(), `"msg":"SIGHUP: log files not reopened; writing on to the ones open","err":"audit file: permission denied"`)
	})
}

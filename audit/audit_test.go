package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// eventNames reads every event-name constant declared in audit.go, so a
// new event cannot be missed by the tests below.
func eventNames(t *testing.T) []string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), "audit.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok || g.Tok != token.CONST {
			continue
		}
		for _, s := range g.Specs {
			for _, v := range s.(*ast.ValueSpec).Values {
				if lit, ok := v.(*ast.BasicLit); ok && lit.Kind == token.STRING {
					n, _ := strconv.Unquote(lit.Value)
					names = append(names, n)
				}
			}
		}
	}
	if len(names) < 15 {
		t.Fatalf("found %d event names in audit.go: %v", len(names), names)
	}
	return names
}

// emptyFields lists the fields of a JSON line whose value says nothing.
func emptyFields(line map[string]any) []string {
	var out []string
	for k, v := range line {
		switch v := v.(type) {
		case nil:
			out = append(out, k)
		case string:
			if v == "" {
				out = append(out, k)
			}
		case []any:
			if len(v) == 0 {
				out = append(out, k)
			}
		case map[string]any:
			if len(v) == 0 {
				out = append(out, k)
			}
		}
	}
	return out
}

func lines(t *testing.T, b []byte) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range bytes.Split(bytes.TrimSpace(b), []byte("\n")) {
		m := map[string]any{}
		if err := json.Unmarshal(l, &m); err != nil {
			t.Fatalf("%v: %s", err, l)
		}
		out = append(out, m)
	}
	return out
}

// TestNoEmptyFields: every event kind, logged with its parts missing and
// with empty extras, has no field whose value is "", null, [] or {};
// what is set is kept.
func TestNoEmptyFields(t *testing.T) {
	var buf bytes.Buffer
	l := New(slog.NewJSONHandler(&buf, nil))
	var nilErr error
	for _, name := range eventNames(t) {
		l.Log(context.Background(), Event{Name: name, Attrs: []slog.Attr{
			slog.String("detail", ""), slog.Any("needs_restart", []string{}), slog.Any("scopes", map[string]bool{}),
			slog.Any("err", nilErr), slog.Any("nothing", nil), slog.Group("g"),
			slog.String("route", "domain-read"), slog.Int("problems", 0), slog.Bool("aborted", false),
		}})
	}
	got := lines(t, buf.Bytes())
	for _, line := range got {
		if e := emptyFields(line); len(e) > 0 {
			t.Errorf("%v has empty fields %v", line, e)
		}
		for _, k := range []string{"client_id", "subject", "session", "request_id", "remote_addr", "reason", "detail"} {
			if _, ok := line[k]; ok {
				t.Errorf("%s: %s was empty, yet written", line["event"], k)
			}
		}
		if line["event"] == nil || line["route"] != "domain-read" || line["problems"] != 0.0 || line["aborted"] != false {
			t.Errorf("a set field was lost: %v", line)
		}
	}
	if len(got) != len(eventNames(t)) {
		t.Errorf("%d lines for %d events", len(got), len(eventNames(t)))
	}

	buf.Reset()
	l.Log(context.Background(), Event{Name: Logout, ClientID: "c", Subject: "alice", Session: "s",
		RequestID: "r", RemoteAddr: "192.0.2.1:1", Reason: "user"})
	full := lines(t, buf.Bytes())[0]
	for k, want := range map[string]string{"event": Logout, "client_id": "c", "subject": "alice", "session": "s",
		"request_id": "r", "remote_addr": "192.0.2.1:1", "reason": "user", "msg": "audit", "level": "INFO"} {
		if full[k] != want {
			t.Errorf("%s = %v, want %q", k, full[k], want)
		}
	}
	if _, ok := full["time"]; !ok {
		t.Error("no time")
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("no space left on device") }

// TestReportErrors: a line the sink could not take is reported, naming
// the event; without a reporter it is dropped as before.
func TestReportErrors(t *testing.T) {
	var got []error
	l := New(slog.NewJSONHandler(failingWriter{}, nil)).ReportErrors(func(err error) { got = append(got, err) })
	l.Log(context.Background(), Event{Name: TokenIssued})
	if len(got) != 1 || !strings.Contains(got[0].Error(), "token.issued") || !strings.Contains(got[0].Error(), "no space left") {
		t.Fatalf("reported %v", got)
	}
	New(slog.NewJSONHandler(failingWriter{}, nil)).Log(context.Background(), Event{Name: TokenIssued}) // no panic
	var nilLogger *Logger
	nilLogger.Log(context.Background(), Event{Name: TokenIssued})
}

// TestFileReopen: as logrotate does — rename the file, signal, and the
// next lines go to a new file at the path, 0600, while the renamed one
// keeps what was written before. A reopen that cannot open the path
// keeps writing to the current file.
func TestFileReopen(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "audit.log")
	f, err := OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	l := New(slog.NewJSONHandler(f, nil))
	l.Log(context.Background(), Event{Name: LoginSucceeded, Subject: "alice"})

	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	l.Log(context.Background(), Event{Name: LoginSucceeded, Subject: "bob"}) // still the renamed file
	if err := f.Reopen(); err != nil {
		t.Fatal(err)
	}
	l.Log(context.Background(), Event{Name: Logout, Subject: "carol"})

	wantFile(t, path+".1", "alice", "bob")
	wantFile(t, path, "carol")
	for _, p := range []string{path, path + ".1"} {
		if st, err := os.Stat(p); err != nil || st.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v %v, want mode 0600", p, st.Mode(), err)
		}
	}

	// The directory is gone: Reopen fails and says so; lines still go to
	// the file already open.
	moved := dir + "-moved"
	if err := os.Rename(dir, moved); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Rename(moved, dir) })
	if err := f.Reopen(); err == nil || !strings.Contains(err.Error(), "audit file") {
		t.Fatalf("Reopen of a path in a missing directory: %v", err)
	}
	l.Log(context.Background(), Event{Name: Logout, Subject: "dave"})
	wantFile(t, filepath.Join(moved, "audit.log"), "carol", "dave")
}

// TestOpenFileAppends: an existing file is appended to, never truncated,
// and a path that cannot be opened is a clear error.
func TestOpenFileAppends(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	if err := os.WriteFile(path, []byte(`{"event":"old","subject":"zoe"}`+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	New(slog.NewJSONHandler(f, nil)).Log(context.Background(), Event{Name: Logout, Subject: "alice"})
	f.Close()
	wantFile(t, path, "zoe", "alice")
	if _, err := OpenFile(filepath.Join(t.TempDir(), "no", "such", "dir", "audit.log")); err == nil {
		t.Error("OpenFile in a missing directory succeeded")
	}
}

// wantFile checks the subjects of the lines in the file at path.
func wantFile(t *testing.T, path string, subjects ...string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, l := range lines(t, b) {
		got = append(got, l["subject"].(string))
	}
	if strings.Join(got, ",") != strings.Join(subjects, ",") {
		t.Errorf("%s holds %v, want %v", filepath.Base(path), got, subjects)
	}
}

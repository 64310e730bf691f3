package proc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// TestMain lets the test binary be its own child: with PROC_TEST_CHILD
// set it plays that part instead of running the tests.
func TestMain(m *testing.M) {
	if role := os.Getenv("PROC_TEST_CHILD"); role != "" {
		child(role)
		return
	}
	os.Exit(m.Run())
}

// child is a stand-in for erpgate: "serve" answers /readyz on the
// listener in fd 3 (503 twice, then ready) and exits 0 on SIGTERM;
// "stubborn" ignores SIGTERM; "crash" exits 3 at once; "env" prints
// its ERPGATE_* variables.
func child(role string) {
	switch role {
	case "serve":
		ln, err := net.FileListener(os.NewFile(3, "listener"))
		if err != nil {
			os.Exit(2)
		}
		var asked atomic.Int32
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if asked.Add(1) <= 2 {
				w.WriteHeader(http.StatusServiceUnavailable)
				_, _ = io.WriteString(w, `{"status":"starting"}`)
				return
			}
			_, _ = io.WriteString(w, `{"status":"ready"}`)
		}), ReadHeaderTimeout: time.Second}
		term := make(chan os.Signal, 1)
		signal.Notify(term, syscall.SIGTERM)
		go func() { <-term; srv.Close() }()
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			os.Exit(2)
		}
		os.Exit(0)
	case "stubborn":
		signal.Ignore(syscall.SIGTERM)
		fmt.Println("up")
		time.Sleep(time.Minute)
	case "crash":
		os.Exit(3)
	case "env":
		for _, kv := range os.Environ() {
			if strings.HasPrefix(kv, "ERPGATE_") {
				fmt.Println(kv)
			}
		}
	}
	os.Exit(0)
}

// childCmd runs this test binary as role.
func childCmd(t *testing.T, role string) *exec.Cmd {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(self)
	cmd.Env = append(Env(), "PROC_TEST_CHILD="+role)
	return cmd
}

func TestStartReadyStop(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f, err := ln.(*net.TCPListener).File()
	ln.Close()
	if err != nil {
		t.Fatal(err)
	}
	cmd := childCmd(t, "serve")
	cmd.ExtraFiles = []*os.File{f}
	p, err := Start(cmd)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Kill)
	c := &http.Client{}
	url := "http://" + ln.Addr().String() + "/readyz"
	if err := p.WaitReady(context.Background(), c, url, 10*time.Millisecond, 30*time.Second); err != nil {
		t.Fatalf("WaitReady: %v", err)
	}
	if ready, state := Ready(context.Background(), c, url); !ready || state != `200 {"status":"ready"}` {
		t.Errorf("Ready = %v %q", ready, state)
	}
	c.CloseIdleConnections()
	if err := p.Stop(10 * time.Second); err != nil {
		t.Errorf("Stop: %v; want a clean exit on SIGTERM", err)
	}
	if !p.Exited() || p.Err() != nil {
		t.Errorf("after Stop: exited %v, err %v", p.Exited(), p.Err())
	}
	if err := p.Stop(time.Second); err != nil {
		t.Errorf("second Stop: %v", err)
	}
}

// TestStopKillsAfterTimeout: a child that ignores SIGTERM is killed once
// the bound has passed, and Stop says so.
func TestStopKillsAfterTimeout(t *testing.T) {
	cmd := childCmd(t, "stubborn")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p, err := Start(cmd)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Kill)
	if _, err := io.ReadFull(out, make([]byte, 3)); err != nil { // "up\n": SIGTERM is ignored by now
		t.Fatal(err)
	}
	start := time.Now()
	err = p.Stop(200 * time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "killed") {
		t.Errorf("Stop = %v, want it killed", err)
	}
	if took := time.Since(start); took < 200*time.Millisecond || took > 10*time.Second {
		t.Errorf("Stop took %s", took)
	}
	if !p.Exited() {
		t.Error("still running after Stop")
	}
}

// TestWaitReadyChildExits: a child that dies before it is ready is
// reported at once, not after the timeout.
func TestWaitReadyChildExits(t *testing.T) {
	p, err := Start(childCmd(t, "crash"))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	err = p.WaitReady(context.Background(), &http.Client{}, "http://127.0.0.1:1/readyz", 10*time.Millisecond, time.Minute)
	if err == nil || !strings.Contains(err.Error(), "exited before it was ready (exit status 3)") {
		t.Errorf("WaitReady = %v", err)
	}
	if time.Since(start) > 30*time.Second {
		t.Error("WaitReady waited for the timeout")
	}
	if err := p.Stop(time.Second); err == nil || !strings.Contains(err.Error(), "exit status 3") {
		t.Errorf("Stop of a crashed child = %v", err)
	}
}

func TestWaitReadyTimeoutAndContext(t *testing.T) {
	p, err := Start(childCmd(t, "stubborn"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Kill)
	url := "http://127.0.0.1:1/readyz" // nothing listens on port 1
	if err := p.WaitReady(context.Background(), &http.Client{}, url, 10*time.Millisecond, 100*time.Millisecond); err == nil ||
		!strings.Contains(err.Error(), "not ready after 100ms (last /readyz: ") {
		t.Errorf("WaitReady past its timeout = %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := p.WaitReady(ctx, &http.Client{}, url, 10*time.Millisecond, time.Minute); !errors.Is(err, context.Canceled) {
		t.Errorf("WaitReady with a cancelled context = %v", err)
	}
}

// TestEnv: a child started with no Env of its own does not see the
// developer's ERPGATE_* settings; other variables pass.
func TestEnv(t *testing.T) {
	t.Setenv("ERPGATE_CONFIG", "/somewhere/else.yaml")
	t.Setenv("PROC_TEST_CHILD", "env")
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(self)
	var out strings.Builder
	cmd.Stdout = &out
	p, err := Start(cmd)
	if err != nil {
		t.Fatal(err)
	}
	<-p.Done()
	if p.Err() != nil || out.String() != "" {
		t.Errorf("child: %v, printed %q; want no ERPGATE_* variables", p.Err(), out.String())
	}
}

func TestModuleRoot(t *testing.T) {
	root, err := ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(root + "/go.mod"); err != nil {
		t.Errorf("ModuleRoot %s: %v", root, err)
	}
}

func TestBuild(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the go tool")
	}
	dir := t.TempDir()
	write := func(name, text string) {
		if err := os.WriteFile(dir+"/"+name, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("go.mod", "module hello\n\ngo 1.22\n")
	write("main.go", "package main\n\nvar version = \"dev\"\n\nfunc main() { println(version) }\n")
	bin := dir + "/hello"
	if err := Build(context.Background(), dir, bin, ".", "-ldflags", "-X main.version=v1"); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin).CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "v1" {
		t.Errorf("built binary: %q %v; want the -ldflags version", out, err)
	}
	write("main.go", "package main\n\nfunc main() { undefined() }\n")
	if err := Build(context.Background(), dir, bin, "."); err == nil || !strings.Contains(err.Error(), "undefined") {
		t.Errorf("Build of a broken package = %v; want the compiler's words", err)
	}
}

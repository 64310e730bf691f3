package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// stopTimeout is how long a child gets to exit after SIGTERM before it is
// killed.
const stopTimeout = 10 * time.Second

// process is a child the suite started. Its stdout and stderr go to a log
// file in the run's temp dir (written by the kernel, not copied through
// this process, so logging costs the load generator nothing).
type process struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	started time.Time
	done    chan struct{} // closed when the process has exited
	waitErr error         // set before done is closed
}

// children tracks every process started, so all of them are stopped on
// the way out, whatever path the run took.
type children struct {
	mu   sync.Mutex
	list []*process
}

// start runs cmd with its output in logPath. extra files become fds 3, 4…
// in the child and are closed here once it has started.
func (cs *children) start(name string, cmd *exec.Cmd, logPath string, extra ...*os.File) (*process, error) {
	defer func() {
		for _, f := range extra {
			f.Close()
		}
	}()
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logf.Close() // the child holds its own copy
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.ExtraFiles = extra
	cmd.Env = cleanEnv()
	setProcAttr(cmd)
	p := &process{name: name, cmd: cmd, logPath: logPath, done: make(chan struct{})}
	p.started = time.Now()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	go func() {
		p.waitErr = cmd.Wait()
		close(p.done)
	}()
	cs.mu.Lock()
	cs.list = append(cs.list, p)
	cs.mu.Unlock()
	return p, nil
}

// stopAll stops every child still running, newest first.
func (cs *children) stopAll() {
	cs.mu.Lock()
	list := cs.list
	cs.list = nil
	cs.mu.Unlock()
	for i := len(list) - 1; i >= 0; i-- {
		list[i].stop()
	}
}

func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM, waits up to stopTimeout, then kills. It is safe to
// call more than once and on a process that already exited.
func (p *process) stop() {
	if p.exited() {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(stopTimeout):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// statusKiB reads a "Vm…:  1234 kB" field of /proc/PID/status.
func (p *process) statusKiB(field string) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		name, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok || name != field {
			continue
		}
		num, _, _ := strings.Cut(strings.TrimSpace(rest), " ")
		return strconv.ParseInt(num, 10, 64)
	}
	return 0, fmt.Errorf("no %s in /proc/%d/status", field, p.cmd.Process.Pid)
}

// logTail is the last n lines of the child's output, for error messages.
func (p *process) logTail(n int) string {
	b, err := os.ReadFile(p.logPath)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// cleanEnv is this environment without ERPGATE_* variables, so a
// developer's settings cannot change what the gateway does.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "ERPGATE_") {
			env = append(env, kv)
		}
	}
	return env
}

// loopbackListener opens a listener on a free loopback port and returns
// it as a file to hand to a child (no window in which another process can
// take the port) and its address.
func loopbackListener() (*os.File, string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, "", err
	}
	defer ln.Close() // the file is a duplicate that keeps the socket open
	f, err := ln.(*net.TCPListener).File()
	if err != nil {
		return nil, "", err
	}
	return f, ln.Addr().String(), nil
}

// freePorts returns n distinct loopback ports that were free a moment
// ago; the gateway binds its own, so a start can still lose a race and
// is retried.
func freePorts(n int) ([]int, error) {
	var held []net.Listener
	defer func() {
		for _, ln := range held {
			ln.Close()
		}
	}()
	ports := make([]int, 0, n)
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		held = append(held, ln)
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// repoRoot is the directory holding go.mod, from `go env GOMOD`.
func repoRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("go env GOMOD: not inside a module; run from the erpgate checkout")
	}
	return filepath.Dir(mod), nil
}

// buildGateway compiles ./cmd/erpgate into dir.
func buildGateway(root, dir string) (string, error) {
	bin := filepath.Join(dir, "erpgate")
	build := func(extra ...string) ([]byte, error) {
		args := append([]string{"build", "-o", bin}, extra...)
		cmd := exec.Command("go", append(args, "./cmd/erpgate")...)
		cmd.Dir = root
		return cmd.CombinedOutput()
	}
	out, err := build()
	if err != nil && bytes.Contains(out, []byte("-buildvcs=false")) {
		// A checkout git refuses to read must not stop the run.
		out, err = build("-buildvcs=false")
	}
	if err != nil {
		return "", fmt.Errorf("go build ./cmd/erpgate: %v\n%s", err, bytes.TrimSpace(out))
	}
	return bin, nil
}

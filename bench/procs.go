package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/erpgate/erpgate/internal/proc"
)

// stopTimeout is how long a child gets to exit after SIGTERM before it is
// killed.
const stopTimeout = 10 * time.Second

// process is a child the suite started (internal/proc). Its stdout and
// stderr go to a log file in the run's temp dir (written by the kernel,
// not copied through this process, so logging costs the load generator
// nothing).
type process struct {
	*proc.Process
	name    string
	logPath string
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
	pp, err := proc.Start(cmd)
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &process{Process: pp, name: name, logPath: logPath}
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

// clockTick is the unit of /proc/PID/stat's CPU times: USER_HZ, 100 on
// every Linux architecture Go runs on.
const clockTick = 10 * time.Millisecond

// cpuTime is the CPU the child has used so far, user and system
// (utime + stime of /proc/PID/stat). Per request over a load phase it is
// steadier than requests per second on CPUs the load generator shares.
func (p *process) cpuTime() (time.Duration, error) { return cpuTimeOf(p.Pid()) }

// cpuTimeOf is process pid's utime + stime.
func cpuTimeOf(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name, in parentheses, may hold spaces: fields are
	// counted from its closing one (state is field 3; utime 14, stime 15).
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f))
	}
	var ticks int64
	for _, v := range f[11:13] {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/%d/stat: %w", pid, err)
		}
		ticks += n
	}
	return time.Duration(ticks) * clockTick, nil
}

// stop stops the child within stopTimeout (SIGTERM, then SIGKILL); how
// it exited is the log's business. Safe on a child that already exited.
func (p *process) stop() { _ = p.Stop(stopTimeout) }

// statusKiB reads a "Vm…:  1234 kB" field of /proc/PID/status.
func (p *process) statusKiB(field string) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.Pid()))
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
	return 0, fmt.Errorf("no %s in /proc/%d/status", field, p.Pid())
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

// buildGateway compiles ./cmd/erpgate into dir.
func buildGateway(ctx context.Context, root, dir string) (string, error) {
	bin := filepath.Join(dir, "erpgate")
	return bin, proc.Build(ctx, root, bin, "./cmd/erpgate")
}

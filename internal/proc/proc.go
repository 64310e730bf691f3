package proc

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Process is a started child.
type Process struct {
	cmd     *exec.Cmd
	started time.Time
	done    chan struct{} // closed when the process has exited
	err     error         // cmd.Wait's result, set before done is closed
}

// Start starts cmd and waits for it in the background. A nil cmd.Env
// becomes Env(): this environment without ERPGATE_* variables, so a
// developer's settings cannot change what the child does. On Linux the
// child gets its own process group, so a Ctrl-C in the terminal reaches
// only the parent (which then stops its children in order), and the
// kernel kills it if the parent dies first.
func Start(cmd *exec.Cmd) (*Process, error) {
	if cmd.Env == nil {
		cmd.Env = Env()
	}
	setProcAttr(cmd)
	p := &Process{cmd: cmd, done: make(chan struct{})}
	p.started = time.Now()
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// Pid is the child's process id.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Started is when Start started the child.
func (p *Process) Started() time.Time { return p.started }

// Done is closed when the child has exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// Exited reports whether the child has exited.
func (p *Process) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Err is how the child exited (cmd.Wait's error, nil for status 0); nil
// while it runs.
func (p *Process) Err() error {
	if !p.Exited() {
		return nil
	}
	return p.err
}

// Signal sends sig to the child.
func (p *Process) Signal(sig os.Signal) error { return p.cmd.Process.Signal(sig) }

// Kill sends SIGKILL and waits for the child to exit: no shutdown code
// runs. Killing an exited child does nothing.
func (p *Process) Kill() {
	_ = p.cmd.Process.Kill()
	<-p.done
}

// Stop sends SIGTERM and waits up to timeout for the child to exit, then
// kills it (SIGKILL) and waits for that. It returns nil when the child
// exited with status 0, and otherwise says how it ended. A child that
// already exited is not signalled; Stop only reports how it exited, so
// Stop may be called more than once.
func (p *Process) Stop(timeout time.Duration) error {
	if p.Exited() {
		if p.err != nil {
			return fmt.Errorf("exited: %w", p.err)
		}
		return nil
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		if p.err != nil {
			return fmt.Errorf("did not exit cleanly after SIGTERM: %w", p.err)
		}
		return nil
	case <-time.After(timeout):
		p.Kill()
		return fmt.Errorf("still running %s after SIGTERM; killed", timeout)
	}
}

// WaitReady asks url, an erpgate /readyz, every `every` (each ask bounded
// by two seconds) until it answers 200 {"status":"ready"}. It fails when
// the child exits first, ctx ends, or timeout has passed since the child
// started; the error says what /readyz answered last. It does not stop
// the child.
func (p *Process) WaitReady(ctx context.Context, c *http.Client, url string, every, timeout time.Duration) error {
	deadline := p.started.Add(timeout)
	for {
		if p.Exited() {
			return fmt.Errorf("exited before it was ready (%v)", p.err)
		}
		ask, cancel := context.WithTimeout(ctx, 2*time.Second)
		ready, last := Ready(ask, c, url)
		cancel()
		if ready {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not ready after %s (last /readyz: %s)", timeout, last)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-p.done:
		case <-time.After(every):
		}
	}
}

// Ready asks url, an erpgate /readyz, once: ready is true for 200
// {"status":"ready"}; state is what it answered (status and body, or the
// error).
func Ready(ctx context.Context, c *http.Client, url string) (ready bool, state string) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return false, err.Error()
	}
	resp, err := c.Do(req)
	if err != nil {
		return false, err.Error()
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	var st struct {
		Status string `json:"status"`
	}
	_ = json.Unmarshal(body, &st)
	return resp.StatusCode == http.StatusOK && st.Status == "ready", fmt.Sprintf("%d %s", resp.StatusCode, bytes.TrimSpace(body))
}

// Env is this process's environment without ERPGATE_* variables.
func Env() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "ERPGATE_") {
			env = append(env, kv)
		}
	}
	return env
}

// ModuleRoot is the directory holding go.mod, from `go env GOMOD`.
func ModuleRoot() (string, error) {
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

// Build runs `go build -o out flags… pkg` in dir (pkg is a package
// path such as ./cmd/erpgate). A checkout git refuses to read (owned by
// another user, say) does not stop it: it builds again with
// -buildvcs=false, and the binary's commit is then unknown.
func Build(ctx context.Context, dir, out, pkg string, flags ...string) error {
	build := func(extra ...string) ([]byte, error) {
		args := append(append([]string{"build", "-o", out}, flags...), extra...)
		cmd := exec.CommandContext(ctx, "go", append(args, pkg)...)
		cmd.Dir = dir
		return cmd.CombinedOutput()
	}
	b, err := build()
	if err != nil && bytes.Contains(b, []byte("-buildvcs=false")) {
		b, err = build("-buildvcs=false")
	}
	if err != nil {
		return fmt.Errorf("go build %s: %v\n%s", pkg, err, bytes.TrimSpace(b))
	}
	return nil
}

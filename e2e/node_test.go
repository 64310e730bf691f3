package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// requireNodeModule returns node and e2e/testdata/js, where the npm
// package module must be installed (npm ci there), or skips (fails in
// CI).
func requireNodeModule(t *testing.T, module string) (node, dir string) {
	t.Helper()
	node, err := exec.LookPath("node")
	requireDep(t, err == nil, "Node.js (apt-get install nodejs)")
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	dir = filepath.Join(root, "e2e", "testdata", "js")
	_, err = os.Stat(filepath.Join(dir, "node_modules", module))
	requireDep(t, err == nil, module+" in e2e/testdata/js (npm ci there)")
	return node, dir
}

// runNodeJSON runs script (in e2e/testdata/js) with args, within a
// minute, and decodes the one JSON line it prints into v.
func runNodeJSON(t *testing.T, node, dir, script string, v any, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, append([]string{script}, args...)...)
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		var stderr string
		if ee := (*exec.ExitError)(nil); errors.As(err, &ee) {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("node %s: %v\n%s%s", script, err, out, stderr)
	}
	if err := json.Unmarshal(out, v); err != nil {
		t.Fatalf("node %s printed %q: %v", script, out, err)
	}
}

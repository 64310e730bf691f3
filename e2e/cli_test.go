package e2e

import (
	"crypto/sha256"
	"encoding/base64"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// badConfig has one of each kind of problem `erpgate check` must report,
// all in one pass, each at its YAML path (SPEC §2).
const badConfig = `public_url: http://127.0.0.1:8080
listen: 127.0.0.1:8080
admin_listen: 127.0.0.1:9090
colour: blue                          # unknown key
store: {driver: memory}
sessions:
  idle_timeout: 20 minutes            # not a duration
users:
  - login: alice
    password_hash: $argon2id$v=19$m=65536,t=1,p=2$lKtXF9v5MV1qSXuKjf9lew$7iQ76+C5DZqezYkT80cB77sSOQYnOOsoKtrWNAvtxnM
    type: internal
  - login: svc-sync
    type: system
apps:
  - uri: com.example/nightly-sync
    type: confidential
    secret_hash: zVd/4lYev/I1BdsLsAYwDHzey9RrwOA8RJr6+sosJb8=
    system_user: alice                # a user, but not a system user
    scope: read update
  - uri: com.example/nightly-sync     # duplicate uri
    type: confidential
    secret_hash: zVd/4lYev/I1BdsLsAYwDHzey9RrwOA8RJr6+sosJb8=
    system_user: nobody               # not a user at all
    scope: read write                 # unknown scope
routes:
  - name: domain
    match: {path_prefix: /api/domain/}
    upstream: 127.0.0.1:8081          # not a URL
    audience: DomainAPI
    scopes: [read]
`

// TestCheckCommand runs the offline subcommands: check, hash-secret,
// new-secret, hash-password and version.
func TestCheckCommand(t *testing.T) {
	t.Parallel()

	t.Run("check bad config", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "bad.yaml")
		if err := os.WriteFile(path, []byte(badConfig), 0o600); err != nil {
			t.Fatal(err)
		}
		stdout, stderr, code := runCLI(t, "", "check", "--config", path)
		if code != 1 {
			t.Errorf("exit code %d; want 1", code)
		}
		// Each problem is printed as "path: message", in document order.
		want := []struct{ path, says string }{
			{"colour", "unknown key"},
			{"sessions.idle_timeout", "20 minutes"},
			{"apps[0].system_user", "system"},
			{"apps[1].uri", "duplicate"},
			{"apps[1].system_user", "nobody"},
			{"apps[1].scope", "write"},
			{"routes[0].upstream", "URL"},
		}
		var lines []string
		for _, l := range strings.Split(stdout+stderr, "\n") {
			if l = strings.TrimSpace(l); l != "" {
				lines = append(lines, l)
			}
		}
		next := 0
		for _, w := range want {
			found := false
			for i, l := range lines {
				if strings.HasPrefix(l, w.path+": ") && strings.Contains(l, w.says) {
					found = true
					if i < next {
						t.Errorf("%s is reported out of document order", w.path)
					}
					next = i
					break
				}
			}
			if !found {
				t.Errorf("no problem reported at %s (mentioning %q)", w.path, w.says)
			}
		}
		if t.Failed() {
			t.Logf("stdout:\n%s\nstderr:\n%s", stdout, stderr)
		}
	})

	t.Run("check example config", func(t *testing.T) {
		root, err := repoRoot()
		if err != nil {
			t.Fatal(err)
		}
		stdout, stderr, code := runCLI(t, "", "check", "--config", filepath.Join(root, "config.example.yaml"))
		if code != 0 {
			t.Errorf("check config.example.yaml: exit code %d; want 0\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
		}
		if !strings.Contains(stdout, "ok") {
			t.Errorf("check config.example.yaml printed %q; want it to say ok", stdout)
		}
	})

	t.Run("hash-secret", func(t *testing.T) {
		const want = "zVd/4lYev/I1BdsLsAYwDHzey9RrwOA8RJr6+sosJb8="
		for _, in := range []string{"demo-secret\n", "demo-secret"} {
			stdout, stderr, code := runCLI(t, in, "hash-secret")
			if code != 0 || strings.TrimSpace(stdout) != want {
				t.Errorf("hash-secret < %q: exit %d, %q (stderr %q); want %s", in, code, stdout, stderr, want)
			}
		}
		if _, _, code := runCLI(t, "", "hash-secret"); code == 0 {
			t.Error("hash-secret with empty stdin exited 0; want an error")
		}
	})

	t.Run("new-secret", func(t *testing.T) {
		seen := map[string]bool{}
		for range 2 {
			stdout, stderr, code := runCLI(t, "", "new-secret")
			if code != 0 {
				t.Fatalf("new-secret: exit %d\n%s", code, stderr)
			}
			fields := map[string]string{}
			for _, l := range strings.Split(stdout, "\n") {
				if k, v, ok := strings.Cut(l, ":"); ok {
					fields[strings.TrimSpace(k)] = strings.TrimSpace(v)
				}
			}
			secret, hash := fields["secret"], fields["secret_hash"]
			if len(secret) < 32 || hash == "" {
				t.Fatalf("new-secret printed %q; want a secret of at least 32 characters and its secret_hash", stdout)
			}
			sum := sha256.Sum256([]byte(secret))
			if want := base64.StdEncoding.EncodeToString(sum[:]); hash != want {
				t.Errorf("secret_hash %s; want base64(sha256(secret)) = %s", hash, want)
			}
			if out, _, _ := runCLI(t, secret+"\n", "hash-secret"); strings.TrimSpace(out) != hash {
				t.Errorf("hash-secret of the new secret is %q; new-secret said %s", out, hash)
			}
			if seen[secret] {
				t.Error("new-secret printed the same secret twice")
			}
			seen[secret] = true
		}
	})

	t.Run("hash-password", func(t *testing.T) {
		stdout, stderr, code := runCLI(t, "alice-demo-password\n", "hash-password")
		hash := strings.TrimSpace(stdout)
		if code != 0 || !strings.HasPrefix(hash, "$argon2id$v=19$m=") || strings.Count(hash, "$") != 5 {
			t.Errorf("hash-password: exit %d, %q (stderr %q); want an argon2id PHC string", code, stdout, stderr)
		}
		if strings.Contains(stdout+stderr, "alice-demo-password") {
			t.Error("hash-password echoed the password")
		}
		if again, _, _ := runCLI(t, "alice-demo-password\n", "hash-password"); strings.TrimSpace(again) == hash {
			t.Error("two hashes of one password are equal; want a fresh salt each time")
		}
	})

	t.Run("version", func(t *testing.T) {
		stdout, _, code := runCLI(t, "", "version")
		if code != 0 || !strings.Contains(stdout, buildVersion) || !strings.Contains(stdout, runtime.Version()) {
			t.Errorf("version: exit %d, %q; want the version %s and %s", code, stdout, buildVersion, runtime.Version())
		}
	})
}

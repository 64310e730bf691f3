package gateway

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
)

// mountTinyFS mounts a 4 MiB tmpfs for the test, or skips (fails in CI)
// where mounting is not allowed.
func mountTinyFS(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", dir).CombinedOutput(); err != nil {
		msg := "mounting a tmpfs needs root (mount -t tmpfs): " + string(bytes.TrimSpace(out))
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	t.Cleanup(func() { _ = exec.Command("umount", "-l", dir).Run() })
	return dir
}

// fillDisk writes to path until the file system is full.
func fillDisk(t *testing.T, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 64<<10)
	for {
		if _, err := f.Write(chunk); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("filling the disk: %v", err)
			}
			return
		}
	}
}

// TestSQLiteDiskFullThenFreed: with the store's disk full, identity
// endpoints that must write answer 503 temporarily_unavailable, calls of
// known sessions keep working, and once space is freed everything works
// again without a restart.
func TestSQLiteDiskFullThenFreed(t *testing.T) {
	disk := mountTinyFS(t)
	dsn := filepath.Join(disk, "erpgate.db")
	front, g, _ := startWithEditedConfig(t, func(yml string) string {
		return regexp.MustCompile(`dsn: .*erpgate\.db`).ReplaceAllString(yml, "dsn: "+dsn)
	})
	persons := front.URL + "/api/domain/odata/General_Contacts_Persons"
	tok := mint(t, g, "alice", "sid-disk", false, "read")
	if c := getWith(t, persons, "Authorization", "Bearer "+tok); c != 200 {
		t.Fatalf("before the disk fills: %d", c)
	}
	filler := filepath.Join(disk, "filler")
	fillDisk(t, filler)
	status, body := revokeOwnToken(t, front.URL)
	if status != 503 || !bytes.Contains([]byte(body), []byte("temporarily_unavailable")) {
		t.Fatalf("revocation with the disk full: %d %s", status, body)
	}
	if c := getWith(t, persons, "Authorization", "Bearer "+tok); c != 200 {
		t.Fatalf("known session with the disk full: %d", c)
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	if status, body := revokeOwnToken(t, front.URL); status != 200 {
		t.Fatalf("revocation after freeing space: %d %s", status, body)
	}
}

// revokeOwnToken gets a client-credentials token and revokes it (RFC
// 7009): the revocation is a store write.
func revokeOwnToken(t *testing.T, base string) (int, string) {
	t.Helper()
	tok := demoToken(t, base)
	req, _ := http.NewRequest("POST", base+"/id/connect/revocation", strings.NewReader(url.Values{"token": {tok}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape("com.example/nightly-sync"), "demo-secret")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	return resp.StatusCode, string(b)
}

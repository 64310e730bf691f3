package issuer

import (
	"crypto/sha256"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

const (
	syncID     = "com.example/nightly-sync"
	syncSecret = "s3cret/with+chars&more"
	webID      = "com.example/web"
	webSecret  = "web-secret"
)

func sha(s string) []byte { h := sha256.Sum256([]byte(s)); return h[:] }

type tokenResult struct {
	status int
	header http.Header
	body   map[string]any
}

func (ts *testServer) token(t *testing.T, form url.Values, basicID, basicSecret string) tokenResult {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, ts.issuer+"/connect/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if basicID != "" {
		req.SetBasicAuth(url.QueryEscape(basicID), url.QueryEscape(basicSecret))
	}
	resp, err := ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatalf("token response is not JSON: %v", err)
	}
	return tokenResult{resp.StatusCode, resp.Header, body}
}

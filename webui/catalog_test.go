package webui

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// keyUse finds catalog keys named in templates ({{.T "k"}}, {{$.TH "k"
// …}}, {{.Count "k" n}}) and in Go (Msg("k"), .T("k")).
var keyUse = regexp.MustCompile(`(?:\.T|\.TH|\.Count|Msg)[ (]"([a-z0-9_.]+)"`)

// dynamicKeys are key families templates build at run time ({{print
// "tokens.status." .Status}}) or Lang methods use.
var dynamicKeys = []string{
	"format.datetime", "scope.other",
	"time.seconds.one", "time.seconds.other", "time.minutes.one", "time.minutes.other", "time.days.one", "time.days.other",
	"tokens.status.active", "tokens.status.expired", "tokens.status.revoked",
	"error.oauth.unauthorized_client", "error.oauth.invalid_request", "error.oauth.temporarily_unavailable",
	"error.oauth.access_denied", "error.oauth.other",
	"account.type.internal", "account.type.community", "account.type.system",
}

func init() {
	// proxy/pages.go's retryable answers: key + ".title" and ".text".
	for _, k := range []string{"proxy.badgateway", "proxy.timeout", "proxy.unavailable", "proxy.toomany", "proxy.request_timeout", "proxy.error"} {
		dynamicKeys = append(dynamicKeys, k+".title", k+".text")
	}
}

// TestCatalogsComplete fails when a key is missing in any catalog, or a
// template or Go file of the packages that render pages names a key
// English does not have.
func TestCatalogsComplete(t *testing.T) {
	en := catalogs["en"]
	for _, tag := range Shipped {
		c := catalogs[tag]
		for k := range en {
			if _, ok := c[k]; !ok {
				t.Errorf("catalog %s lacks %q", tag, k)
			}
		}
		for k := range c {
			if _, ok := en[k]; !ok {
				t.Errorf("catalog %s has %q, which English lacks", tag, k)
			}
		}
	}
	used := map[string][]string{}
	for _, k := range dynamicKeys {
		used[k] = append(used[k], "dynamicKeys")
	}
	for _, dir := range []string{".", "../issuer", "../browserlogin", "../proxy"} {
		err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() && path != dir && (d.Name() == "testdata" || path == "../issuer/testdata") {
				return fs.SkipDir
			}
			if d.IsDir() || !(strings.HasSuffix(path, ".html") || strings.HasSuffix(path, ".go")) || strings.HasSuffix(path, "_test.go") {
				return nil
			}
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			for _, m := range keyUse.FindAllStringSubmatch(string(b), -1) {
				used[m[1]] = append(used[m[1]], path)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if len(used) < 50 {
		t.Fatalf("found only %d keys in use: the scan is broken", len(used))
	}
	for k, where := range used {
		if strings.HasSuffix(k, ".") {
			continue // a prefix built on: print "tokens.status." .Status
		}
		if _, ok := en[k]; !ok {
			if _, plural := en[k+".one"]; plural {
				continue // Count adds .one / .other
			}
			slices.Sort(where)
			t.Errorf("key %q (used in %s) is in no catalog", k, strings.Join(slices.Compact(where), ", "))
		}
	}
}

// TestCatalogsKeepVerbs: a translation takes the same values as English,
// in the same order, so a page never shows %!s(MISSING).
func TestCatalogsKeepVerbs(t *testing.T) {
	verbs := regexp.MustCompile(`%[sd]`)
	for _, tag := range Shipped {
		for k, v := range catalogs[tag] {
			if want, got := verbs.FindAllString(catalogs["en"][k], -1), verbs.FindAllString(v, -1); !slices.Equal(want, got) {
				t.Errorf("%s %q has verbs %v, English %v", tag, k, got, want)
			}
		}
	}
}

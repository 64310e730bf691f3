package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
)

// exampleLicense is config.example.yaml's license block, which the
// reload test rewrites.
const exampleLicense = "\nlicense:\n  slots: 10\n  reserved: [admin]\n"

// licenseBlock is a license block with slots and no reserved login.
func licenseBlock(slots int) string {
	return fmt.Sprintf("\nlicense:\n  slots: %d\n  reserved: []\n", slots)
}

// TestSIGHUPLicense: the built binary applies license.slots on SIGHUP,
// with /metrics on a metrics_listen of its own. Under 1 slot a second
// session is refused (MaximumLicenseCountExceeded); after raising it to 2
// and SIGHUP the same token's session opens, no restart; after lowering
// it to 1 both open sessions go on and a third is refused, which the
// reload's log line says. erpgate_license_slots_limit follows, scraped on
// metrics_listen (the admin listener answers 404 there); each reload's
// config.reloaded lists license.slots as applied.
func TestSIGHUPLicense(t *testing.T) {
	t.Parallel()
	upstream, _ := lifecycleUpstream(t)
	metricsURL := fmt.Sprintf("http://127.0.0.1:%d", freePorts(t, 1)[0])
	g := startGateway(t, gatewayOptions{Serve: true, Edit: func(c string) string {
		if !strings.Contains(c, exampleLicense) {
			t.Fatal("config.example.yaml changed shape: no license block with 10 slots reserved for admin")
		}
		c = strings.Replace(c, exampleLicense, licenseBlock(1), 1)
		return upstreamLine.ReplaceAllString(c, "upstream: "+upstream) + "\nmetrics_listen: " + strings.TrimPrefix(metricsURL, "http://") + "\n"
	}})
	scrape := func() string {
		t.Helper()
		resp := g.call(t, http.MethodGet, metricsURL+"/metrics", "")
		if resp.Status != http.StatusOK {
			t.Fatalf("GET /metrics on metrics_listen: %s", resp)
		}
		return string(resp.Body)
	}
	if !strings.Contains(scrape(), "\nerpgate_license_slots_limit 1\n") {
		t.Fatal("metrics_listen's /metrics lacks erpgate_license_slots_limit 1")
	}
	if resp := g.call(t, http.MethodGet, g.AdminURL+"/metrics", ""); resp.Status != http.StatusNotFound {
		t.Errorf("/metrics on admin_listen with metrics_listen set: %s, want 404", resp)
	}
	if ok, state := g.ready(); !ok {
		t.Fatalf("/readyz on admin_listen: %s", state)
	}

	// Each token is a session of its own.
	first, second, third := g.token(t, reportClient, reportSecret), g.token(t, reportClient, reportSecret), g.token(t, reportClient, reportSecret)
	if resp := g.call(t, http.MethodGet, g.PublicURL+personsPath, first); resp.Status != http.StatusOK {
		t.Fatalf("first session under 1 slot: %s", resp)
	}
	refused := func(tok string) bool {
		resp := g.call(t, http.MethodGet, g.PublicURL+personsPath, tok)
		return resp.Status == http.StatusForbidden && strings.Contains(string(resp.Body), "MaximumLicenseCountExceeded")
	}
	if !refused(second) {
		t.Fatal("second session under 1 slot was not refused with MaximumLicenseCountExceeded")
	}

	raw, err := os.ReadFile(g.ConfigPath)
	if err != nil {
		t.Fatal(err)
	}
	reload := func(slots int) {
		t.Helper()
		cfg := strings.Replace(string(raw), licenseBlock(1), licenseBlock(slots), 1)
		if err := os.WriteFile(g.ConfigPath, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := g.proc.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		want := fmt.Sprintf("\nerpgate_license_slots_limit %d\n", slots)
		waitFor(t, strings.TrimSpace(want)+" on metrics_listen", func() bool { return strings.Contains(scrape(), want) })
	}

	reload(2)
	if resp := g.call(t, http.MethodGet, g.PublicURL+personsPath, second); resp.Status != http.StatusOK {
		t.Fatalf("second session after SIGHUP with 2 slots: %s", resp)
	}

	reload(1)
	for i, tok := range []string{first, second} {
		if resp := g.call(t, http.MethodGet, g.PublicURL+personsPath, tok); resp.Status != http.StatusOK {
			t.Errorf("open session %d after lowering the cap: %s, want it to go on", i+1, resp)
		}
	}
	if !refused(third) {
		t.Error("a new session over the lowered cap was not refused with MaximumLicenseCountExceeded")
	}
	if !strings.Contains(g.Stderr(), `"msg":"config reload: license.slots is below the sessions open; none was ended`) {
		t.Error("the log does not say the lowered cap is below the sessions open")
	}
	var applied int
	for _, line := range strings.Split(g.Stderr(), "\n") {
		var e struct {
			Event, Reason string
			Applied       []string `json:"applied"`
		}
		if json.Unmarshal([]byte(line), &e) == nil && e.Event == "config.reloaded" {
			if e.Reason != "applied" || strings.Join(e.Applied, " ") != "license.slots" {
				t.Errorf("config.reloaded %s: want applied with applied [license.slots]", line)
			}
			applied++
		}
	}
	if applied != 2 {
		t.Errorf("%d config.reloaded events, want 2", applied)
	}
}

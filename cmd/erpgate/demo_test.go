package main

import (
	"net"
	"os"
	"strings"
	"testing"

	"github.com/erpgate/erpgate/config"
)

// TestDemoBanner: the demo's banner on the example config names every
// address as a URL a person can paste (a listener on every interface as
// loopback), the admin console, and a first-token recipe that works with
// the example's secrets.
func TestDemoBanner(t *testing.T) {
	raw, err := os.ReadFile("../../config.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	f, err := config.Parse(raw, func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	printDemoBanner(&b, f, demoBanner{
		main:   &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8080},
		admin:  &net.TCPAddr{IP: net.IPv4zero, Port: 9090},
		sample: "127.0.0.1:8081", routes: []string{"web", "domain-read"}, config: "config.example.yaml",
	})
	out := strings.Join(strings.Fields(b.String()), " ") // the columns' padding aside
	for _, want := range []string{
		"gateway http://localhost:8080 (listening on 127.0.0.1:8080)",
		"identity server http://localhost:8080/id",
		"metrics and health http://127.0.0.1:9090/metrics",
		"admin console http://127.0.0.1:9090/admin/ui/",
		"sample ERP API http://127.0.0.1:8081 (routes web, domain-read)",
		"-d client_id=com.example/nightly-sync -d client_secret=demo-secret",
		"erpgate admin token --config config.example.yaml",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the banner lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "0.0.0.0") || strings.Contains(out, "<client_id>") {
		t.Errorf("the banner has an address or placeholder nobody can paste:\n%s", out)
	}
}

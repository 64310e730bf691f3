package main

import (
	"testing"

	"github.com/erpgate/erpgate/config"
)

// The generated config must stay valid as the schema evolves; otherwise
// every erpgate row of the report would say "did not start".
func TestGatewayConfigIsValid(t *testing.T) {
	for _, driver := range []string{"sqlite", "memory"} {
		for _, alg := range []string{"RS256", "ES256", "EdDSA"} {
			cfg := gatewayConfig(18080, 19090, "http://127.0.0.1:18081", driver, t.TempDir(), alg,
				"zVd/4lYev/I1BdsLsAYwDHzey9RrwOA8RJr6+sosJb8=")
			if _, err := config.Parse([]byte(cfg), nil); err != nil {
				t.Errorf("%s %s: %v\n%s", driver, alg, err, cfg)
			}
		}
	}
}

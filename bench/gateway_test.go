package main

import (
	"testing"

	"github.com/erpgate/erpgate/config"
	"github.com/erpgate/erpgate/password"
)

// The generated config must stay valid as the schema evolves; otherwise
// every erpgate row of the report would say "did not start".
func TestGatewayConfigIsValid(t *testing.T) {
	for _, driver := range []string{"sqlite", "memory"} {
		for _, alg := range []string{"RS256", "ES256", "EdDSA"} {
			for _, long := range []bool{false, true} {
				cfg := gatewayConfig(gatewayParams{
					listen: 18080, admin: 19090, upstream: "http://127.0.0.1:18081", driver: driver,
					dir: t.TempDir(), alg: alg, secretHash: "zVd/4lYev/I1BdsLsAYwDHzey9RrwOA8RJr6+sosJb8=",
					passwordHash: password.Hash("pw", benchPasswordCost), longLived: long,
				})
				if _, err := config.Parse([]byte(cfg), nil); err != nil {
					t.Errorf("%s %s long-lived %v: %v\n%s", driver, alg, long, err, cfg)
				}
			}
		}
	}
}

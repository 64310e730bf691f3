package gateway

import (
	"time"

	"github.com/erpgate/erpgate/config"
	"github.com/erpgate/erpgate/dpop"
)

// newDPoP is the one DPoP proof checker of the process (RFC 9449): the
// token endpoint and every door share its replay cache; with
// dpop.require_nonce, its nonces are keyed by the first cookie key, which
// every replica has.
func newDPoP(f *config.File, clock func() time.Time) (*dpop.Checker, error) {
	cfg := dpop.Config{Clock: clock}
	if f.DPoP.RequireNonce {
		keys, err := f.Gateway.DecodedCookieKeys()
		if err != nil {
			return nil, err
		}
		if cfg.Nonces, err = dpop.NewNonces(keys[0], 0, clock); err != nil {
			return nil, err
		}
	}
	return dpop.New(cfg), nil
}

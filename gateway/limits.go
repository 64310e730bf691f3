package gateway

import (
	"github.com/erpgate/erpgate/config"
	"github.com/erpgate/erpgate/issuer"
)

// issuerLimits is the limits: section as the issuer takes it.
func issuerLimits(f *config.File) issuer.Limits {
	l := f.Limits
	return issuer.Limits{
		TokenRequestsPerSecond:         l.TokenRequestsPerSecond,
		TokenBurst:                     l.TokenBurst,
		LoginFailuresPerAccountAddress: l.LoginFailuresPerAccountAddress,
		LoginFailuresPerAddress:        l.LoginFailuresPerAddress,
		LoginFailureWindow:             l.LoginFailureWindow.D(),
		LoginDelayAfter:                l.LoginDelayAfter,
		LoginDelayBase:                 l.LoginDelayBase.D(),
		LoginDelayMax:                  l.LoginDelayMax.D(),

		// Client authentication throttle and form read timeout.
		ClientAuthFailuresPerClientAddress: l.ClientAuthFailuresPerClientAddress,
		ClientAuthFailuresPerAddress:       l.ClientAuthFailuresPerAddress,
		ClientAuthFailuresPerClient:        l.ClientAuthFailuresPerClient,
		ClientAuthFailureWindow:            l.ClientAuthFailureWindow.D(),
		FormReadTimeout:                    l.FormReadTimeout.D(),
	}
}

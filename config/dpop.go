package config

// DPoP configures proof-of-possession (RFC 9449) for the whole gateway;
// each app's apps[].dpop says whether its tokens must be bound.
type DPoP struct {
	// RequireNonce makes every DPoP proof, at the token endpoint and at
	// every door, carry a nonce the gateway handed out lately (RFC 9449
	// §8, §9): the DPoP-Nonce header of the token endpoint's answers and
	// of a use_dpop_nonce refusal, good for 30 to 60 seconds. A proof made
	// in advance by someone who briefly had a client's key then stops
	// working. It needs gateway.cookie_keys: a nonce is an HMAC under a
	// key derived from the first, so every replica accepts every
	// replica's. Omitted: false. Restart to change.
	RequireNonce bool `yaml:"require_nonce"`
}

func (v *validator) dpop() {
	if v.f.DPoP.RequireNonce && len(v.f.Gateway.CookieKeys) == 0 {
		v.add("dpop.require_nonce", "needs gateway.cookie_keys: the nonces are HMACs under a key derived from the first, shared by every replica")
	}
}

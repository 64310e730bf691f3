package issuer_test

import (
	"github.com/erpgate/erpgate/authority"
	"github.com/erpgate/erpgate/directory"
	"github.com/erpgate/erpgate/issuer"
	"github.com/erpgate/erpgate/reftoken"
	"github.com/erpgate/erpgate/revocation"
	"github.com/erpgate/erpgate/signing"
	"github.com/erpgate/erpgate/store"
)

// What the gateway wires into issuer.Config (gateway/reload.go)
// implements the interfaces
// the issuer declares. The implementers cannot say so themselves (the
// issuer imports them), so the proof is here.
var (
	_ issuer.AuthCodes        = store.Backend(nil)
	_ issuer.RefreshTokens    = store.Backend(nil)
	_ issuer.IdentitySessions = store.Backend(nil)
	_ issuer.Consents         = store.Backend(nil)
	_ issuer.PasswordChanges  = store.Backend(nil)

	_ issuer.Directory       = (*directory.Table)(nil)
	_ issuer.Passwords       = (*directory.Table)(nil)
	_ issuer.Signer          = (*signing.Keyring)(nil)
	_ issuer.Revocations     = (*revocation.List)(nil)
	_ issuer.Authority       = (*authority.Authority)(nil)
	_ issuer.ReferenceTokens = (*reftoken.Service)(nil)
)

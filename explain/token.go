package explain

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/erpgate/erpgate/authority"
	"github.com/erpgate/erpgate/claims"
	"github.com/erpgate/erpgate/config"
	"github.com/erpgate/erpgate/policy"
	"github.com/erpgate/erpgate/proxy"
	"github.com/erpgate/erpgate/reftoken"
	"github.com/erpgate/erpgate/signing"
)

// readToken reads tok as the proxy reads a bearer token — the
// credential of an Authorization header (authority.ReadCredential), a
// JWT access token (signing.Parse: compact form, alg, typ at+jwt), its
// claims as claims.Access — but does NOT verify it: explain is a
// diagnostic, and the point is to see what a token would be allowed if
// the proxy accepted it. A token the proxy cannot read at all is an
// error.
func readToken(tok string, f *config.File, now time.Time) (caller, error) {
	cred, err := credential(strings.TrimSpace(tok))
	if err != nil {
		return caller{}, err
	}
	if strings.HasPrefix(cred.Token, reftoken.Prefix) {
		return caller{}, fmt.Errorf("reference tokens (%s…) are opaque; give their scopes with --scopes", reftoken.Prefix)
	}
	jws, err := signing.Parse(cred.Token, signing.TypeAccessToken, algorithms())
	if err != nil {
		return caller{}, fmt.Errorf("not a JWT access token the proxy reads (it answers %s): %v", refusedToken(), err)
	}
	var tc claims.Access
	if err := json.Unmarshal(jws.UnsafePayloadWithoutVerification(), &tc); err != nil {
		return caller{}, fmt.Errorf("payload is not a JSON claim set the proxy reads (it answers %s): %v", refusedToken(), err)
	}
	aud := tc.Audience
	c := caller{facts: policy.Facts{Authenticated: true, Audiences: aud, Scopes: tc.Scope.Values,
		ACR: tc.ACR, Service: tc.Subject == "", Now: now}}
	if tc.AuthTime != 0 {
		c.facts.AuthTime = time.Unix(tc.AuthTime, 0).UTC()
	}
	c.lines = append(c.lines, "token (signature not checked: its claims are taken as they are)")
	who := []string{}
	if tc.ClientID != "" {
		who = append(who, fmt.Sprintf("client_id %q", tc.ClientID))
	}
	switch {
	case tc.Subject != "":
		who = append(who, fmt.Sprintf("user %q", tc.Subject))
	case tc.ClientSystemUser != "":
		who = append(who, fmt.Sprintf("system user %q", tc.ClientSystemUser))
	}
	if tc.SessionID != "" {
		who = append(who, fmt.Sprintf("session %q", tc.SessionID))
	}
	if len(who) > 0 {
		c.lines = append(c.lines, strings.Join(who, ", "))
	}
	c.lines = append(c.lines,
		fmt.Sprintf("audiences %s", list(aud, "none")),
		fmt.Sprintf("scopes %s", list(tc.Scope.Values, "none")))
	if line := signInLine(tc, now); line != "" {
		c.lines = append(c.lines, line)
	}
	if tc.Expiry != 0 {
		exp := time.Unix(tc.Expiry, 0).UTC()
		if exp.Before(now) {
			c.notes = append(c.notes, fmt.Sprintf("the token expired at %s: the proxy refuses it (%s) before any route rule", exp.Format(time.RFC3339), refusedToken()))
		} else {
			c.lines = append(c.lines, "expires "+exp.Format(time.RFC3339))
		}
	}
	if tc.Issuer != f.Issuer() {
		c.notes = append(c.notes, fmt.Sprintf("the token's issuer %q is not this gateway's (%s): the proxy refuses it (%s)", tc.Issuer, f.Issuer(), refusedToken()))
	}
	c.notes = append(c.notes, "the proxy also checks the signature, expiry and revocation, then the session and license; explain does not")
	return c, nil
}

// signInLine describes the sign-in behind a user's token (acr,
// auth_time: what require_auth routes judge, RFC 9470 §6.1); "" for a
// service token, which has none.
func signInLine(tc claims.Access, now time.Time) string {
	if tc.Subject == "" {
		return ""
	}
	s := "signed in"
	if tc.ACR != "" {
		s += fmt.Sprintf(" with acr %q", tc.ACR)
	} else {
		s += " (no acr claim)"
	}
	if tc.AuthTime != 0 {
		at := time.Unix(tc.AuthTime, 0).UTC()
		s += fmt.Sprintf(" at %s (%s ago)", at.Format(time.RFC3339), now.Sub(at).Truncate(time.Second))
	} else {
		s += ", no auth_time claim"
	}
	return s
}

// credential is the credential the proxy reads from the header
// "Authorization: Bearer tok" (tok may start with "Bearer " itself).
func credential(tok string) (authority.Credential, error) {
	v := tok
	if scheme, _, ok := strings.Cut(tok, " "); !ok || !strings.EqualFold(scheme, "Bearer") {
		v = "Bearer " + tok
	}
	return authority.ReadCredential(&http.Request{URL: &url.URL{}, Header: http.Header{"Authorization": {v}}})
}

// algorithms is the proxy's JWS alg allow-list: every algorithm the
// keyring signs with (the gateway gives its verifier signing.Algorithms).
func algorithms() []jose.SignatureAlgorithm {
	algs := make([]jose.SignatureAlgorithm, len(signing.Algorithms))
	for i, a := range signing.Algorithms {
		algs[i] = jose.SignatureAlgorithm(a)
	}
	return algs
}

// refusedToken is what the proxy answers a token it refuses
// (proxy.AnswerFor): "401 invalid_token".
func refusedToken() string {
	a := proxy.AnswerFor(policy.Decision{}, &authority.Refusal{Reason: authority.ReasonInvalidToken}, proxy.Situation{})
	return fmt.Sprintf("%d %s", a.Refusal.Status, a.Refusal.Body.Error)
}

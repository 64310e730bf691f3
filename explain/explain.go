package explain

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/erpgate/erpgate/config"
	"github.com/erpgate/erpgate/policy"
)

// Request is the request to explain and what its caller carries: a
// Token, an Assumed valid token, or neither (no credentials).
type Request struct {
	Method string // upper case, as the proxy matches it
	Path   string // decoded, as the proxy matches it (see Path)
	// Token is a bearer token as the proxy reads it from
	// "Authorization: Bearer Token"; it may start with "Bearer " itself,
	// and surrounding white space is ignored (so a Token of white space
	// is an empty token, refused as the proxy refuses it; "" is none).
	// Its claims are taken as they are: signature, issuer, expiry and
	// revocation are not checked (the explanation notes what the proxy
	// would refuse).
	Token string
	// Assumed, when there is no Token, is a valid token with these
	// scopes and audiences.
	Assumed *Assumed
}

// Assumed is a valid token explain takes for granted.
type Assumed struct {
	Scopes []string
	// Audiences are the token's; nil stands for tokens.audiences, which
	// every token this gateway issues carries.
	Audiences []string
}

// Explanation is the answer to one Request.
type Explanation struct {
	// Decision is the policy's (policy.(*Set).Decide).
	Decision policy.Decision

	f      *config.File
	set    *policy.Set
	caller caller
}

// caller is what explain assumes about the request's credentials.
type caller struct {
	facts policy.Facts
	lines []string // how the caller is described, one entry per output line
	notes []string // what the proxy would check that explain does not
}

// Explain answers req on the routes of f, compiled in order as set (the
// gateway's policy.Compile(gateway.PolicyRoutes(f))). A token's expiry is
// judged at now. The error says why req.Token is not a token the proxy
// reads at all; it names no flag.
func Explain(f *config.File, set *policy.Set, req Request, now time.Time) (*Explanation, error) {
	var c caller
	switch {
	case req.Token != "" && req.Assumed != nil:
		return nil, errors.New("a token gives the audiences and scopes; do not assume them as well")
	case req.Token != "":
		var err error
		if c, err = readToken(req.Token, f, now); err != nil {
			return nil, err
		}
	case req.Assumed != nil:
		c = assume(f, *req.Assumed)
	default:
		c = caller{lines: []string{"no credentials (give --token or --scopes to explain a token)"}}
	}
	c.facts.Method, c.facts.Path = req.Method, req.Path
	if _, r, ok := set.Match(req.Method, req.Path); ok && !r.RequireAuth.IsZero() && req.Assumed != nil {
		c.notes = append(c.notes, "an assumed token says nothing of its sign-in (acr, auth_time), so it meets no require_auth; give --token to judge one")
	}
	return &Explanation{Decision: set.Decide(c.facts), f: f, set: set, caller: c}, nil
}

// Allowed reports whether the policy lets the request through.
func (x *Explanation) Allowed() bool { return x.Decision.Allowed() }

// WriteTo prints the explanation to w as aligned "label  text" lines.
func (x *Explanation) WriteTo(w io.Writer) (int64, error) {
	var b bytes.Buffer
	x.write(&b)
	return b.WriteTo(w)
}

// Path returns the decoded path the proxy would match (what net/http
// puts in r.URL.Path) from a path or an absolute URL. The query is
// ignored: routes never look at it.
func Path(target string) (string, error) {
	if target == "" {
		return "", errors.New("URL is empty")
	}
	u, err := url.Parse(target)
	if err != nil {
		return "", fmt.Errorf("URL %q: %v", target, err)
	}
	if u.Opaque != "" || (u.Scheme != "" && u.Host == "") {
		return "", fmt.Errorf("URL %q: give a path (/api/x) or an absolute http(s) URL", target)
	}
	if u.Path == "" && u.Host != "" {
		return "/", nil // clients send "/" for http://host
	}
	return u.Path, nil
}

// assume is the caller with the assumed valid token a.
func assume(f *config.File, a Assumed) caller {
	c := caller{facts: policy.Facts{Authenticated: true, Scopes: a.Scopes, Audiences: a.Audiences}}
	aud := "(--audience)"
	if a.Audiences == nil {
		c.facts.Audiences = slices.Clone(f.Tokens.Audiences)
		aud = "(tokens.audiences, as every token this gateway issues)"
	}
	c.lines = append(c.lines,
		"a valid token is assumed (--scopes/--audience)",
		fmt.Sprintf("audiences %s %s", list(c.facts.Audiences, "none"), aud),
		fmt.Sprintf("scopes %s", list(c.facts.Scopes, "none")))
	return c
}

// list renders ["a" "b"] as `"a", "b"`, or none when empty.
func list(l []string, none string) string {
	if len(l) == 0 {
		return none
	}
	q := make([]string, len(l))
	for i, s := range l {
		q[i] = fmt.Sprintf("%q", s)
	}
	return strings.Join(q, ", ")
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

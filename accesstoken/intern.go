package accesstoken

import (
	"slices"
	"strings"
	"sync"

	"github.com/erpgate/erpgate/claims"
)

// internLimit bounds the values an interner keeps. They come from signed
// tokens, so from the issuer's configuration: one issuer, its audiences,
// and the apps with their scopes and system users.
const internLimit = 4096

// interner shares the claim values that every token of an app repeats
// (issuer, audiences, scopes, client, system user, user type), so the
// token cache holds one copy of each rather than one per token: about 190
// of the 520 bytes a cached client-credentials token's claims took. Values
// unique to a token (jti, sid) or to a user (sub, name, email) are left
// alone. Once full, new values stay unshared. Shared values are never
// modified: the claims Verify returns are read-only.
type interner struct {
	mu    sync.Mutex
	strs  map[string]string
	lists map[string][]string // keyed by the values joined with NUL
}

func newInterner() *interner {
	return &interner{strs: map[string]string{}, lists: map[string][]string{}}
}

// claims replaces c's repeated values by their shared copies.
func (in *interner) claims(c *claims.Access) {
	in.mu.Lock()
	defer in.mu.Unlock()
	c.Audience = in.list(c.Audience)
	c.Scope.Values = in.list(c.Scope.Values)
	for _, s := range []*string{&c.Issuer, &c.ClientID, &c.UserType, &c.ClientSystemUser, &c.ClientSystemUserType,
		&c.ClientSystemUserID, &c.Locale, &c.Database, &c.ClientDatabase} {
		*s = in.str(*s)
	}
}

func (in *interner) full() bool { return len(in.strs)+len(in.lists) >= internLimit }

func (in *interner) str(s string) string {
	if s == "" {
		return s
	}
	if shared, ok := in.strs[s]; ok {
		return shared
	}
	if !in.full() {
		in.strs[s] = s
	}
	return s
}

func (in *interner) list(l []string) []string {
	if len(l) == 0 {
		return l
	}
	k := strings.Join(l, "\x00")
	if shared, ok := in.lists[k]; ok {
		// The key is ambiguous for values containing NUL: share only
		// an equal list.
		if slices.Equal(shared, l) {
			return shared
		}
		return l
	}
	if in.full() {
		return l
	}
	for i, s := range l {
		l[i] = in.str(s)
	}
	l = slices.Clip(l)
	in.lists[k] = l
	return l
}

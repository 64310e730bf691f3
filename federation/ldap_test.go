package federation

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"log/slog"
	"net"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/erpgate/erpgate/internal/testldap"
)

var directory = testldap.Options{
	Users: []testldap.User{
		{UID: "alice", Name: "Alice Admin", Email: "alice@example.com", Password: "alice-pw"},
		{UID: "bob", Name: "Bob Staff", Email: "bob@example.com", Password: "bob-pw"},
		{UID: "carol", Name: "Carol NoMail", Password: "carol-pw"},
		// Two people sharing an address, for a filter that is not unique.
		{UID: "dup1", Name: "Dup One", Email: "shared@example.com", Password: "dup-pw"},
		{UID: "dup2", Name: "Dup Two", Email: "shared@example.com", Password: "dup-pw"},
	},
	Groups: []testldap.Group{
		{CN: "erp-admins", Members: []string{"alice"}},
		{CN: "staff", Members: []string{"alice", "bob"}},
	},
}

// config is the provider for s over StartTLS, searching groups.
func config(s *testldap.Server) LDAPConfig {
	return LDAPConfig{
		ID: "corp", URL: s.URL(), StartTLS: true, RootCAs: s.RootCAs(),
		BindDN: s.BindDN(), BindPassword: s.BindPassword(),
		UserBase: testldap.PeopleDN, GroupBase: testldap.GroupsDN,
		Timeout: 5 * time.Second,
	}
}

func newLDAP(t *testing.T, cfg LDAPConfig) *LDAP {
	t.Helper()
	l, err := NewLDAP(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func authenticate(t *testing.T, l *LDAP, login, password string) (Identity, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	return l.Authenticate(ctx, login, password)
}

func TestLDAPSignIn(t *testing.T) {
	s := testldap.Start(t, directory)
	memberOf := config(s)
	memberOf.URL, memberOf.StartTLS, memberOf.GroupBase = s.LDAPSURL(), false, ""
	byUUID := config(s)
	byUUID.SubjectAttribute = "entryUUID"
	customGroups := config(s)
	customGroups.GroupFilter = "(&(objectClass=groupOfNames)(cn=erp-*)(member={dn}))"

	admins, staff := testldap.GroupDN("erp-admins"), testldap.GroupDN("staff")
	uuidRE := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
	for _, tc := range []struct {
		name   string
		cfg    LDAPConfig
		login  string
		groups []string
	}{
		{"StartTLS, group search", config(s), "alice", []string{admins, staff}},
		{"LDAPS, memberOf", memberOf, "alice", []string{admins, staff}},
		{"group filter of its own", customGroups, "alice", []string{admins}},
		{"entryUUID as subject", byUUID, "bob", []string{staff}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pw := map[string]string{"alice": "alice-pw", "bob": "bob-pw"}[tc.login]
			id, err := authenticate(t, newLDAP(t, tc.cfg), tc.login, pw)
			if err != nil {
				t.Fatal(err)
			}
			want := Identity{Provider: "corp", Subject: testldap.UserDN(tc.login), Login: tc.login,
				Name: map[string]string{"alice": "Alice Admin", "bob": "Bob Staff"}[tc.login], Email: tc.login + "@example.com",
				EmailVerified: true, Groups: tc.groups, Methods: []string{"pwd"}}
			if tc.cfg.SubjectAttribute != "" {
				if !uuidRE.MatchString(id.Subject) {
					t.Errorf("subject %q is not an entryUUID", id.Subject)
				}
				want.Subject = id.Subject
			}
			if !equalIdentity(id, want) {
				t.Errorf("identity\n %+v\nwant\n %+v", id, want)
			}
		})
	}

	t.Run("no mail, no groups", func(t *testing.T) {
		id, err := authenticate(t, newLDAP(t, config(s)), "carol", "carol-pw")
		if err != nil {
			t.Fatal(err)
		}
		if id.Email != "" || id.EmailVerified || len(id.Groups) != 0 || id.Name != "Carol NoMail" {
			t.Errorf("carol: %+v", id)
		}
	})

	t.Run("concurrent", func(t *testing.T) {
		l := newLDAP(t, config(s))
		var wg sync.WaitGroup
		errs := make(chan error, 8)
		for i := range 8 {
			wg.Go(func() {
				login, pw := "alice", "alice-pw"
				if i%2 == 1 {
					login, pw = "bob", "bob-pw"
				}
				id, err := authenticate(t, l, login, pw)
				if err == nil && id.Login != login {
					err = errors.New("got " + id.Login + " for " + login)
				}
				errs <- err
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Error(err)
			}
		}
	})
}

func equalIdentity(a, b Identity) bool {
	return a.Provider == b.Provider && a.Subject == b.Subject && a.Tenant == b.Tenant && a.Login == b.Login &&
		a.Name == b.Name && a.Email == b.Email && a.EmailVerified == b.EmailVerified &&
		slices.Equal(a.Groups, b.Groups) && slices.Equal(a.Methods, b.Methods)
}

// TestLDAPUnknownLoginLikeWrongPassword checks that an unknown login is
// answered as a wrong password is, after the same LDAP operations with
// the same results, as slapd logged them.
func TestLDAPUnknownLoginLikeWrongPassword(t *testing.T) {
	s := testldap.Start(t, directory)
	l := newLDAP(t, config(s))
	for i, c := range []struct{ login, password string }{{"alice", "not-alice-pw"}, {"nobody", "not-alice-pw"}} {
		if _, err := authenticate(t, l, c.login, c.password); err != ErrWrongCredentials {
			t.Fatalf("%s: %v; want ErrWrongCredentials itself", c.login, err)
		}
		// Wait for slapd to log the connection closed.
		if n := len(s.WaitConns(i+1, 5*time.Second)); n != i+1 {
			t.Fatalf("slapd logged %d connections closed; want %d", n, i+1)
		}
	}
	conns := s.Conns()
	type step struct {
		kind string
		err  int
	}
	steps := func(c testldap.Conn) (out []step) {
		for _, op := range c.Ops {
			out = append(out, step{op.Kind, op.Err})
		}
		return out
	}
	wrong, unknown := conns[0], conns[1]
	want := []step{{"EXT", 0}, {"BIND", 0}, {"SRCH", 0}, {"BIND", 49}} // StartTLS, service, search, the person
	if !slices.Equal(steps(wrong), want) {
		t.Errorf("wrong password: operations %+v; want %v", wrong.Ops, want)
	}
	if !slices.Equal(steps(unknown), steps(wrong)) {
		t.Fatalf("unknown login: operations %+v; want those of a wrong password %+v", unknown.Ops, wrong.Ops)
	}
	if dn := unknown.Ops[3].DN; !strings.HasSuffix(dn, ","+testldap.PeopleDN) {
		t.Errorf("unknown login bound as %q; want a DN under the user base", dn)
	}
}

func TestLDAPRefusesWithoutBind(t *testing.T) {
	s := testldap.Start(t, directory)
	l := newLDAP(t, config(s))
	// RFC 4513 §5.1.2: an empty password makes an unauthenticated bind,
	// which a directory may answer with success.
	for _, c := range []struct{ login, password string }{{"alice", ""}, {"", "alice-pw"}, {strings.Repeat("a", 300), "x"}} {
		if _, err := authenticate(t, l, c.login, c.password); err != ErrWrongCredentials {
			t.Errorf("login %.10q password %q: %v; want ErrWrongCredentials", c.login, c.password, err)
		}
	}
	if got := s.WaitConns(1, 300*time.Millisecond); len(got) != 0 {
		t.Errorf("the directory saw %d connections; want none: %+v", len(got), got)
	}
}

func TestLDAPFilterInjection(t *testing.T) {
	s := testldap.Start(t, directory)
	l := newLDAP(t, config(s))
	// With alice's password, a login that would match her (or anyone)
	// if put into the filter unescaped.
	logins := []string{"*", "a*", "*)(uid=alice", "alice)(|(uid=*", `alice\`, "alice\x00"}
	for _, login := range logins {
		if _, err := authenticate(t, l, login, "alice-pw"); err != ErrWrongCredentials {
			t.Errorf("login %q: %v; want ErrWrongCredentials", login, err)
		}
	}
	conns := s.WaitConns(len(logins), 5*time.Second)
	if len(conns) != len(logins) {
		t.Fatalf("%d connections; want %d", len(conns), len(logins))
	}
	for i, c := range conns {
		// Each search had one equality assertion, escaped, and found
		// nobody, so the bind was the unknown login's.
		if len(c.Ops) != 4 || c.Ops[2].Kind != "SRCH" || strings.ContainsAny(strings.TrimSuffix(strings.TrimPrefix(c.Ops[2].Filter, "(uid="), ")"), "*()") ||
			c.Ops[3].DN == testldap.UserDN("alice") {
			t.Errorf("login %q: operations %+v", logins[i], c.Ops)
		}
	}
}

func TestLDAPAmbiguousFilter(t *testing.T) {
	s := testldap.Start(t, directory)
	var logs bytes.Buffer
	cfg := config(s)
	cfg.UserFilter = "(mail={login})"
	cfg.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	l := newLDAP(t, cfg)
	if _, err := authenticate(t, l, "shared@example.com", "dup-pw"); err != ErrWrongCredentials {
		t.Errorf("a login two entries match: %v; want ErrWrongCredentials", err)
	}
	if !strings.Contains(logs.String(), "more than one entry") {
		t.Errorf("logs %q; want the filter named as a configuration problem", logs.String())
	}
	if strings.Contains(logs.String(), "dup-pw") {
		t.Error("the password is in the log")
	}
	if id, err := authenticate(t, l, "alice@example.com", "alice-pw"); err != nil || id.Login != "alice" {
		t.Errorf("alice by mail: %+v, %v", id, err)
	}
}

func TestLDAPUnavailable(t *testing.T) {
	s := testldap.Start(t, directory)
	otherCA := x509.NewCertPool() // trusts nothing slapd has
	ldaps := config(s)
	ldaps.URL, ldaps.StartTLS = s.LDAPSURL(), false
	for _, tc := range []struct {
		name string
		edit func(*LDAPConfig)
		why  string // in the error
	}{
		{"StartTLS, wrong CA", func(c *LDAPConfig) { c.RootCAs = otherCA }, "StartTLS: LDAP Result Code 200 \"Network Error\": TLS handshake failed (tls: failed to verify certificate: x509: certificate signed by unknown authority)"},
		{"LDAPS, wrong CA", func(c *LDAPConfig) { *c = ldaps; c.RootCAs = otherCA }, "TLS handshake: tls: failed to verify certificate: x509: certificate signed by unknown authority"},
		{"system roots", func(c *LDAPConfig) { c.RootCAs = nil }, "x509: certificate signed by unknown authority"},
		{"service account's password wrong", func(c *LDAPConfig) { c.BindPassword = "wrong" }, "bind as the service account: LDAP Result Code 49"},
		{"user base missing", func(c *LDAPConfig) { c.UserBase = "ou=nobody," + testldap.BaseDN }, "search for the person: LDAP Result Code 32"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := config(s)
			tc.edit(&cfg)
			_, err := authenticate(t, newLDAP(t, cfg), "alice", "alice-pw")
			if !errors.Is(err, ErrUnavailable) || errors.Is(err, ErrWrongCredentials) || !strings.Contains(err.Error(), tc.why) {
				t.Errorf("%v; want ErrUnavailable for %s", err, tc.why)
			}
			if err != nil && strings.Contains(err.Error(), "alice-pw") {
				t.Error("the password is in the error")
			}
		})
	}

	t.Run("directory stopped", func(t *testing.T) {
		l := newLDAP(t, config(s))
		s.Stop()
		start := time.Now()
		_, err := authenticate(t, l, "alice", "alice-pw")
		if !errors.Is(err, ErrUnavailable) {
			t.Errorf("%v; want ErrUnavailable", err)
		}
		if d := time.Since(start); d > time.Second {
			t.Errorf("took %s; a refused connection should fail at once", d)
		}
	})
}

// hungServer accepts connections and never answers.
func hungServer(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return ln.Addr().String()
}

func TestLDAPHungDirectory(t *testing.T) {
	addr := hungServer(t)
	const timeout = 300 * time.Millisecond
	base := LDAPConfig{ID: "hung", BindDN: "cn=svc,dc=example,dc=com", BindPassword: "x",
		UserBase: "dc=example,dc=com", Timeout: timeout, RootCAs: x509.NewCertPool()}
	for _, tc := range []struct {
		name     string
		url      string
		startTLS bool
	}{
		{"LDAPS handshake", "ldaps://" + addr, false},
		{"StartTLS", "ldap://" + addr, true},
		{"service bind, plain on loopback", "ldap://" + addr, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := base
			cfg.URL, cfg.StartTLS = tc.url, tc.startTLS
			if !tc.startTLS && strings.HasPrefix(tc.url, "ldap:") {
				cfg.RootCAs = nil
			}
			l := newLDAP(t, cfg)
			start := time.Now()
			_, err := l.Authenticate(t.Context(), "alice", "pw")
			d := time.Since(start)
			if !errors.Is(err, ErrUnavailable) {
				t.Errorf("%v; want ErrUnavailable", err)
			}
			if d < timeout || d > timeout+time.Second {
				t.Errorf("took %s; want about the timeout, %s", d, timeout)
			}
		})
	}

	t.Run("context deadline first", func(t *testing.T) {
		cfg := base
		cfg.URL, cfg.StartTLS, cfg.Timeout = "ldap://"+addr, true, time.Minute
		l := newLDAP(t, cfg)
		ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := l.Authenticate(ctx, "alice", "pw")
		if !errors.Is(err, ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("%v; want ErrUnavailable and the deadline", err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("took %s; want the context's 200ms", d)
		}
	})

	t.Run("context canceled", func(t *testing.T) {
		cfg := base
		cfg.URL, cfg.StartTLS, cfg.Timeout = "ldap://"+addr, true, time.Minute
		l := newLDAP(t, cfg)
		ctx, cancel := context.WithCancel(t.Context())
		time.AfterFunc(100*time.Millisecond, cancel)
		start := time.Now()
		_, err := l.Authenticate(ctx, "alice", "pw")
		if !errors.Is(err, ErrUnavailable) || !errors.Is(err, context.Canceled) {
			t.Errorf("%v; want ErrUnavailable and context.Canceled", err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("took %s after the cancel", d)
		}
	})
}

func TestNewLDAPConfig(t *testing.T) {
	ok := LDAPConfig{ID: "corp", URL: "ldaps://dc.example.com", BindDN: "cn=svc,dc=example,dc=com", BindPassword: "pw",
		UserBase: "ou=people,dc=example,dc=com"}
	if l, err := NewLDAP(ok); err != nil || l.ID() != "corp" {
		t.Fatalf("NewLDAP: %v", err)
	}
	// Active Directory: nested groups by LDAP_MATCHING_RULE_IN_CHAIN, the
	// GUID as subject.
	ad := ok
	ad.UserFilter, ad.LoginAttribute, ad.NameAttribute, ad.SubjectAttribute = "(sAMAccountName={login})", "sAMAccountName", "displayName", "objectGUID"
	ad.GroupBase, ad.GroupFilter = "dc=example,dc=com", "(member:1.2.840.113556.1.4.1941:={dn})"
	if _, err := NewLDAP(ad); err != nil {
		t.Errorf("NewLDAP, Active Directory: %v", err)
	}
	for _, tc := range []struct {
		name string
		edit func(*LDAPConfig)
		want []string // each a problem's start
	}{
		{"empty", func(c *LDAPConfig) { *c = LDAPConfig{} }, []string{"id: required", "url: required", "user_base: required"}},
		{"scheme", func(c *LDAPConfig) { c.URL = "https://dc.example.com" }, []string{"url: must be ldap://"}},
		{"path", func(c *LDAPConfig) { c.URL = "ldaps://dc.example.com/dc=example" }, []string{"url: must be"}},
		{"port", func(c *LDAPConfig) { c.URL = "ldaps://dc.example.com:99999" }, []string{"url: port"}},
		{"clear text", func(c *LDAPConfig) { c.URL = "ldap://dc.example.com" }, []string{"url: ldap:// without start_tls"}},
		{"StartTLS with ldaps", func(c *LDAPConfig) { c.StartTLS = true }, []string{"start_tls: not with ldaps://"}},
		{"root CAs without TLS", func(c *LDAPConfig) { c.URL, c.RootCAs = "ldap://127.0.0.1", x509.NewCertPool() },
			[]string{"ca_file: set"}},
		{"bind DN", func(c *LDAPConfig) { c.BindDN = "not a dn" }, []string{"bind_dn: not a DN"}},
		{"unauthenticated service bind", func(c *LDAPConfig) { c.BindPassword = "" }, []string{"bind_password: required"}},
		{"password without DN", func(c *LDAPConfig) { c.BindDN = "" }, []string{"bind_password: set without"}},
		{"filter without login", func(c *LDAPConfig) { c.UserFilter = "(uid=alice)" }, []string{"user_filter: must contain {login}"}},
		{"filter syntax", func(c *LDAPConfig) { c.UserFilter = "uid={login}" }, []string{"user_filter: not an LDAP filter"}},
		{"group filter without base", func(c *LDAPConfig) { c.GroupFilter = "(member={dn})(" }, []string{"group_filter: set without group_base"}},
		{"group filter", func(c *LDAPConfig) { c.GroupBase, c.GroupFilter = "ou=g,dc=example,dc=com", "(cn=x)" },
			[]string{"group_filter: must contain {dn} or {login}"}},
		{"attribute", func(c *LDAPConfig) { c.SubjectAttribute = "object GUID" }, []string{"attributes.subject:"}},
		{"timeout", func(c *LDAPConfig) { c.Timeout = -time.Second }, []string{"timeout: must be positive"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := ok
			tc.edit(&cfg)
			_, err := NewLDAP(cfg)
			if err == nil {
				t.Fatal("accepted")
			}
			var lines []string
			if j, ok := err.(interface{ Unwrap() []error }); ok {
				for _, e := range j.Unwrap() {
					lines = append(lines, e.Error())
				}
			}
			if len(lines) != len(tc.want) {
				t.Fatalf("problems %q; want %d", lines, len(tc.want))
			}
			for i, w := range tc.want {
				if !strings.HasPrefix(lines[i], w) {
					t.Errorf("problem %q; want it to start %q", lines[i], w)
				}
			}
		})
	}
}

func TestGUIDString(t *testing.T) {
	// {00112233-4455-6677-8899-aabbccddeeff} as Active Directory stores
	// it in objectGUID.
	b := []byte{0x33, 0x22, 0x11, 0x00, 0x55, 0x44, 0x77, 0x66, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff}
	if got := guidString(b); got != "00112233-4455-6677-8899-aabbccddeeff" {
		t.Errorf("guidString: %s", got)
	}
}

// FuzzUserFilter checks that any login makes the default user filter
// one equality assertion whose value is the login, byte for byte: no
// login adds a wildcard or a clause.
func FuzzUserFilter(f *testing.F) {
	for _, s := range []string{"alice", "*", "a*", "*)(uid=*", "alice)(|(uid=*", `\`, `\2a`, "\x00", "é", "\xff"} {
		f.Add(s)
	}
	l, err := NewLDAP(LDAPConfig{ID: "fuzz", URL: "ldap://127.0.0.1", UserBase: "dc=example,dc=com"})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, login string) {
		filter := l.userFilter(login)
		p, err := ldap.CompileFilter(filter)
		if err != nil {
			t.Fatalf("login %q: filter %q does not compile: %v", login, filter, err)
		}
		if p.Tag != ldap.FilterEqualityMatch || len(p.Children) != 2 ||
			p.Children[0].Data.String() != "uid" || p.Children[1].Data.String() != login {
			t.Fatalf("login %q: filter %q is not (uid=<the login>)", login, filter)
		}
	})
}

package federation

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-ldap/ldap/v3"
)

// LDAPConfig configures an LDAP / Active Directory password provider.
type LDAPConfig struct {
	ID string // identity_providers[].id
	// URL is ldap://host[:389] or ldaps://host[:636]. Plain ldap://
	// without StartTLS would send passwords in clear and is accepted
	// only for a loopback host (a local TLS tunnel, say).
	URL string
	// StartTLS upgrades an ldap:// connection before anything else is
	// sent (RFC 4513 §3); refused with ldaps://.
	StartTLS bool
	// RootCAs verify the directory's certificate; nil: the system's.
	// Certificates are always verified, for the URL's host name.
	RootCAs *x509.CertPool
	// BindDN and BindPassword are the service account the user search
	// binds as; BindDN "" searches anonymously.
	BindDN, BindPassword string
	// UserBase is where people are searched (the whole subtree).
	UserBase string
	// UserFilter finds the person by the login typed in; {login} is
	// replaced by the login escaped for a filter (RFC 4515 §3), so a
	// login cannot change the filter. Default "(uid={login})"; Active
	// Directory: "(sAMAccountName={login})".
	UserFilter string
	// The attributes read from the person's entry: LoginAttribute
	// (default uid), NameAttribute (default cn), EmailAttribute (default
	// mail), SubjectAttribute, the stable id; "" is the entry's DN
	// (entryUUID on OpenLDAP, objectGUID on Active Directory survive a
	// rename; objectGUID is read as the GUID's string form).
	LoginAttribute, NameAttribute, EmailAttribute, SubjectAttribute string
	// GroupBase is where the person's groups are searched, with
	// GroupFilter: default "(member={dn})"; {dn} is replaced by the
	// person's DN and {login} by their LoginAttribute value, both
	// escaped. GroupBase "" reads the entry's memberOf attribute instead
	// (Active Directory; OpenLDAP's memberof overlay).
	GroupBase, GroupFilter string
	// Timeout bounds every dial, TLS handshake, bind and search; default
	// 5s.
	Timeout time.Duration
	// Dialer dials the directory; nil: a net.Dialer with Timeout.
	Dialer *net.Dialer
	// Logger gets the directory's configuration problems (a filter that
	// matches more than one entry, say); nil logs nothing.
	Logger *slog.Logger
}

const (
	defaultLDAPTimeout = 5 * time.Second
	// maxLoginLen: no directory has logins this long; longer input is
	// refused before it reaches the directory.
	maxLoginLen = 256
	// maxGroups bounds a group search; past it the groups found are
	// used and the cut logged.
	maxGroups = 1000
)

// LDAP checks passwords by binding to an LDAP directory or Active
// Directory as the person (RFC 4513 §5.1.3), after finding their entry
// with a search. It opens a connection per attempt and closes it after;
// a pool can come later.
type LDAP struct {
	cfg     LDAPConfig
	addr    string      // host:port
	ldaps   bool        // TLS from the first byte
	tls     *tls.Config // nil: plain ldap:// to loopback
	dialer  *net.Dialer
	attrs   []string // read from the person's entry
	dummyDN string   // what an unknown login binds as (see Authenticate)
	log     *slog.Logger
}

var _ PasswordProvider = (*LDAP)(nil)

// attributeRE is an attribute description: a name or an OID, with
// options (RFC 4512 §2.5).
var attributeRE = regexp.MustCompile(`^(?:[A-Za-z][A-Za-z0-9-]*|[0-9]+(?:\.[0-9]+)+)(?:;[A-Za-z0-9-]+)*$`)

// NewLDAP checks cfg and returns the provider; it does not connect.
// Every problem is reported, each message starting with the setting's
// config-file name (url, start_tls, ca_file for RootCAs, bind_dn,
// user_filter, attributes.login…) so the caller can put its path in
// front; errors.Join holds them, one error each.
func NewLDAP(cfg LDAPConfig) (*LDAP, error) {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...)))
	}
	setDefault := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	setDefault(&cfg.UserFilter, "(uid={login})")
	setDefault(&cfg.GroupFilter, "(member={dn})")
	setDefault(&cfg.LoginAttribute, "uid")
	setDefault(&cfg.NameAttribute, "cn")
	setDefault(&cfg.EmailAttribute, "mail")
	if cfg.Timeout == 0 {
		cfg.Timeout = defaultLDAPTimeout
	}
	l := &LDAP{cfg: cfg, log: cfg.Logger}
	if l.log == nil {
		l.log = slog.New(slog.DiscardHandler)
	}

	if cfg.ID == "" {
		bad("id", "required")
	}
	u, err := url.Parse(cfg.URL)
	urlOK := false
	switch {
	case cfg.URL == "":
		bad("url", "required")
	case err != nil:
		bad("url", "%v", err)
	case u.Scheme != "ldap" && u.Scheme != "ldaps":
		bad("url", "must be ldap://host[:port] or ldaps://host[:port]; got %q", cfg.URL)
	case u.Hostname() == "" || u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "":
		bad("url", "must be ldap://host[:port] or ldaps://host[:port], without user, path or query; got %q", cfg.URL)
	default:
		urlOK = true
		l.ldaps = u.Scheme == "ldaps"
		port := u.Port()
		if port == "" {
			port = map[bool]string{false: "389", true: "636"}[l.ldaps]
		}
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			bad("url", "port %q is not a port number", port)
		}
		l.addr = net.JoinHostPort(u.Hostname(), port)
		switch {
		case l.ldaps && cfg.StartTLS:
			bad("start_tls", "not with ldaps:// (the connection is TLS already)")
		case !l.ldaps && !cfg.StartTLS && !isLoopback(u.Hostname()):
			bad("url", "ldap:// without start_tls would send passwords in clear; use ldaps:// or start_tls: true")
		}
		if l.ldaps || cfg.StartTLS {
			l.tls = &tls.Config{ServerName: u.Hostname(), RootCAs: cfg.RootCAs, MinVersion: tls.VersionTLS12}
		}
	}
	if cfg.RootCAs != nil && urlOK && l.tls == nil {
		bad("ca_file", "set, but the connection is not TLS (ldaps:// or start_tls)")
	}

	checkDN := func(field, dn string, required bool) {
		if dn == "" {
			if required {
				bad(field, "required")
			}
			return
		}
		if _, err := ldap.ParseDN(dn); err != nil {
			bad(field, "not a DN: %v", err)
		}
	}
	checkDN("bind_dn", cfg.BindDN, false)
	switch {
	case cfg.BindDN != "" && cfg.BindPassword == "":
		// RFC 4513 §5.1.2: a DN with an empty password is an
		// unauthenticated bind, which a server may accept as anonymous.
		bad("bind_password", "required with bind_dn (an empty one is an unauthenticated bind)")
	case cfg.BindDN == "" && cfg.BindPassword != "":
		bad("bind_password", "set without bind_dn")
	}
	checkDN("user_base", cfg.UserBase, true)
	checkDN("group_base", cfg.GroupBase, false)
	checkFilter := func(field, filter string, placeholders ...string) {
		sample := filter
		found := false
		for _, p := range placeholders {
			found = found || strings.Contains(filter, p)
			sample = strings.ReplaceAll(sample, p, "x")
		}
		if !found {
			bad(field, "must contain %s", strings.Join(placeholders, " or "))
		}
		if _, err := ldap.CompileFilter(sample); err != nil {
			bad(field, "not an LDAP filter (RFC 4515), e.g. (uid={login}): %v", err)
		}
	}
	checkFilter("user_filter", cfg.UserFilter, "{login}")
	if cfg.GroupBase != "" {
		checkFilter("group_filter", cfg.GroupFilter, "{dn}", "{login}")
	} else if cfg.GroupFilter != "(member={dn})" {
		bad("group_filter", "set without group_base (without one, groups come from memberOf)")
	}
	for _, a := range []struct{ field, name string }{
		{"attributes.login", cfg.LoginAttribute}, {"attributes.name", cfg.NameAttribute},
		{"attributes.email", cfg.EmailAttribute}, {"attributes.subject", cfg.SubjectAttribute},
	} {
		if a.name != "" && !attributeRE.MatchString(a.name) {
			bad(a.field, "%q is not an attribute name", a.name)
		}
	}
	if cfg.Timeout < 0 {
		bad("timeout", "must be positive; got %s", cfg.Timeout)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}

	l.dialer = cfg.Dialer
	if l.dialer == nil {
		l.dialer = &net.Dialer{Timeout: cfg.Timeout}
	}
	l.attrs = []string{cfg.LoginAttribute, cfg.NameAttribute, cfg.EmailAttribute}
	if cfg.SubjectAttribute != "" {
		l.attrs = append(l.attrs, cfg.SubjectAttribute)
	}
	if cfg.GroupBase == "" {
		l.attrs = append(l.attrs, "memberOf")
	}
	// A DN no entry has (a random RDN value), under the user base so
	// that the directory looks for it where it looks for people.
	l.dummyDN = "cn=erpgate-" + rand.Text() + "," + cfg.UserBase
	return l, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// ID is the provider's id.
func (l *LDAP) ID() string { return l.cfg.ID }

// Authenticate finds login's entry as the service account, binds as
// that entry with password, and reads the person's groups.
//
// An unknown login gets the same answer after the same operations as a
// wrong password: the search finds nothing, and a bind with the password
// as a DN that does not exist follows, which the directory refuses with
// invalidCredentials as it refuses a wrong password. (How long the
// directory itself takes to refuse each is its own affair.)
func (l *LDAP) Authenticate(ctx context.Context, login, password string) (Identity, error) {
	// RFC 4513 §5.1.2: a simple bind with a DN and no password is an
	// "unauthenticated bind" that servers may answer with success; it
	// must never reach the directory as a password check.
	if password == "" || login == "" || len(login) > maxLoginLen {
		return Identity{}, ErrWrongCredentials
	}
	c, err := l.dial(ctx)
	if err != nil {
		return Identity{}, err
	}
	defer c.close()
	if l.cfg.BindDN != "" {
		// A refusal here is the service account's: a configuration
		// problem, not the person's wrong password.
		if err := c.bind(l.cfg.BindDN, l.cfg.BindPassword); err != nil {
			return Identity{}, c.unavailable("bind as the service account", err)
		}
	}
	entry, err := c.findUser(login)
	if err != nil {
		return Identity{}, err
	}
	dn := l.dummyDN
	if entry != nil {
		dn = entry.DN
	}
	if err := c.bind(dn, password); err != nil {
		if ldap.IsErrorWithCode(err, ldap.LDAPResultInvalidCredentials) {
			return Identity{}, ErrWrongCredentials
		}
		return Identity{}, c.unavailable("bind as the person", err)
	}
	if entry == nil {
		l.log.Error("ldap: the directory accepted a bind as a DN that has no entry; check its configuration",
			"provider", l.cfg.ID, "dn", dn)
		return Identity{}, ErrWrongCredentials
	}
	return c.identity(login, entry)
}

// findUser searches the person's entry; nil when there is no single one.
func (c *ldapConn) findUser(login string) (*ldap.Entry, error) {
	l := c.l
	filter := l.userFilter(login)
	// Size limit 2: one entry is the person, a second says the filter
	// is not unique.
	res, err := c.search(l.cfg.UserBase, filter, 2, l.attrs)
	tooMany := ldap.IsErrorWithCode(err, ldap.LDAPResultSizeLimitExceeded)
	if err != nil && !tooMany {
		return nil, c.unavailable("search for the person", err)
	}
	if tooMany || len(res.Entries) > 1 {
		l.log.Warn("ldap: the user filter matches more than one entry; refusing the sign-in (make user_filter unique)",
			"provider", l.cfg.ID, "user_base", l.cfg.UserBase)
		return nil, nil
	}
	if len(res.Entries) == 0 {
		return nil, nil
	}
	return res.Entries[0], nil
}

// userFilter is UserFilter for login, escaped (RFC 4515 §3) so that
// whatever login holds is one assertion value.
func (l *LDAP) userFilter(login string) string {
	return strings.ReplaceAll(l.cfg.UserFilter, "{login}", ldap.EscapeFilter(login))
}

// identity is what the entry says about the person, with their groups.
func (c *ldapConn) identity(login string, e *ldap.Entry) (Identity, error) {
	l := c.l
	id := Identity{
		Provider: l.cfg.ID,
		Subject:  e.DN,
		Login:    e.GetAttributeValue(l.cfg.LoginAttribute),
		Name:     e.GetAttributeValue(l.cfg.NameAttribute),
		Email:    e.GetAttributeValue(l.cfg.EmailAttribute),
		Methods:  []string{"pwd"},
	}
	if id.Login == "" {
		id.Login = login
	}
	// The directory is the organisation's own record of its people: an
	// address it holds counts as verified.
	id.EmailVerified = id.Email != ""
	if attr := l.cfg.SubjectAttribute; attr != "" {
		raw := e.GetRawAttributeValue(attr)
		switch {
		case len(raw) == 0:
			l.log.Error("ldap: the person's entry has no subject attribute", "provider", l.cfg.ID, "attribute", attr, "dn", e.DN)
			return Identity{}, fmt.Errorf("%w: ldap: entry %s has no %s", ErrUnavailable, e.DN, attr)
		case strings.EqualFold(attr, "objectGUID"):
			if len(raw) != 16 {
				return Identity{}, fmt.Errorf("%w: ldap: %s of %s is %d bytes, not a GUID", ErrUnavailable, attr, e.DN, len(raw))
			}
			id.Subject = guidString(raw)
		default:
			id.Subject = string(raw)
		}
	}
	if l.cfg.GroupBase == "" {
		id.Groups = e.GetAttributeValues("memberOf")
	} else {
		groups, err := c.groups(e.DN, id.Login)
		if err != nil {
			return Identity{}, err
		}
		id.Groups = groups
	}
	slices.Sort(id.Groups)
	return id, nil
}

// groups searches the groups of the person with dn and login, as the
// service account: the person may not be allowed to read groups.
func (c *ldapConn) groups(dn, login string) ([]string, error) {
	l := c.l
	if l.cfg.BindDN != "" {
		if err := c.bind(l.cfg.BindDN, l.cfg.BindPassword); err != nil {
			return nil, c.unavailable("bind as the service account", err)
		}
	}
	filter := strings.NewReplacer("{dn}", ldap.EscapeFilter(dn), "{login}", ldap.EscapeFilter(login)).Replace(l.cfg.GroupFilter)
	// "1.1": no attributes, the DNs are enough (RFC 4511 §4.5.1.8).
	res, err := c.search(l.cfg.GroupBase, filter, maxGroups, []string{"1.1"})
	if ldap.IsErrorWithCode(err, ldap.LDAPResultSizeLimitExceeded) {
		l.log.Warn("ldap: more groups than read; the rest are ignored", "provider", l.cfg.ID, "dn", dn, "read", maxGroups)
	} else if err != nil {
		return nil, c.unavailable("search for the person's groups", err)
	}
	groups := make([]string, 0, len(res.Entries))
	for _, g := range res.Entries {
		groups = append(groups, g.DN)
	}
	return groups, nil
}

// guidString is a Microsoft GUID in its string form: the first three
// fields are stored little-endian (MS-DTYP §2.3.4).
func guidString(b []byte) string {
	return fmt.Sprintf("%08x-%04x-%04x-%s-%s", binary.LittleEndian.Uint32(b[0:4]), binary.LittleEndian.Uint16(b[4:6]),
		binary.LittleEndian.Uint16(b[6:8]), hex.EncodeToString(b[8:10]), hex.EncodeToString(b[10:16]))
}

// ldapConn is one attempt's connection.
type ldapConn struct {
	l    *LDAP
	ctx  context.Context
	raw  net.Conn // the TCP connection, whose deadline bounds each step
	lc   *ldap.Conn
	stop func() bool // stops closing raw when ctx ends
}

// dial connects, with TLS from the start (ldaps) or by StartTLS, each
// step within Timeout and ctx.
func (l *LDAP) dial(ctx context.Context) (*ldapConn, error) {
	c := &ldapConn{l: l, ctx: ctx}
	dctx, cancel := context.WithTimeout(ctx, l.cfg.Timeout)
	raw, err := l.dialer.DialContext(dctx, "tcp", l.addr)
	cancel()
	if err != nil {
		return nil, c.unavailable("dial", err)
	}
	c.raw = raw
	// When ctx ends, the connection closes, and whatever waits on it
	// fails at once.
	c.stop = context.AfterFunc(ctx, func() { raw.Close() })
	var conn net.Conn = raw
	if l.ldaps {
		tc := tls.Client(raw, l.tls)
		c.deadline()
		if err := tc.HandshakeContext(ctx); err != nil {
			c.close()
			return nil, c.unavailable("TLS handshake", err)
		}
		conn = tc
	}
	c.lc = ldap.NewConn(conn, l.ldaps)
	c.lc.Start()
	c.lc.SetTimeout(l.cfg.Timeout)
	if l.cfg.StartTLS {
		c.deadline()
		if err := c.lc.StartTLS(l.tls); err != nil {
			c.close()
			return nil, c.unavailable("StartTLS", err)
		}
	}
	return c, nil
}

// deadline bounds the next step by Timeout and ctx's deadline; go-ldap
// has no context, and its StartTLS handshake no timeout, so the TCP
// connection's deadline is what bounds them.
func (c *ldapConn) deadline() {
	d := time.Now().Add(c.l.cfg.Timeout)
	if dl, ok := c.ctx.Deadline(); ok && dl.Before(d) {
		d = dl
	}
	_ = c.raw.SetDeadline(d)
}

func (c *ldapConn) bind(dn, password string) error {
	c.deadline()
	return c.lc.Bind(dn, password)
}

func (c *ldapConn) search(base, filter string, sizeLimit int, attrs []string) (*ldap.SearchResult, error) {
	c.deadline()
	timeLimit := int((c.l.cfg.Timeout + time.Second - 1) / time.Second) // seconds, rounded up
	return c.lc.Search(ldap.NewSearchRequest(base, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases,
		sizeLimit, timeLimit, false, filter, attrs, nil))
}

func (c *ldapConn) close() {
	if c.stop != nil {
		c.stop()
	}
	if c.lc != nil {
		_ = c.lc.Close() // bounded by SetTimeout
	} else if c.raw != nil {
		_ = c.raw.Close()
	}
}

// unavailable wraps err from step as ErrUnavailable, with ctx's error
// when ctx ended (that is then why the step failed).
func (c *ldapConn) unavailable(step string, err error) error {
	ctxErr := c.ctx.Err()
	if dl, ok := c.ctx.Deadline(); ok && ctxErr == nil && !time.Now().Before(dl) {
		// The connection's deadline, set to ctx's, can pass before ctx's
		// own timer fires.
		ctxErr = context.DeadlineExceeded
	}
	if ctxErr != nil {
		return fmt.Errorf("%w: ldap %s: %s: %w", ErrUnavailable, c.l.cfg.ID, step, ctxErr)
	}
	return fmt.Errorf("%w: ldap %s: %s: %w", ErrUnavailable, c.l.cfg.ID, step, err)
}

package testldap

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha1"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/erpgate/erpgate/internal/proc"
	"github.com/erpgate/erpgate/internal/testdep"
)

// Slapd is where Debian's slapd package installs the server.
const Slapd = "/usr/sbin/slapd"

// The directory's layout.
const (
	BaseDN     = "dc=example,dc=com"
	PeopleDN   = "ou=people," + BaseDN
	GroupsDN   = "ou=groups," + BaseDN
	ServiceDN  = "cn=erpgate,ou=services," + BaseDN // the service account
	rootDN     = "cn=admin," + BaseDN
	startLimit = 20 * time.Second // slapd's start, seeding included
	opTimeout  = 5 * time.Second  // each seeding operation
)

// User is a person in ou=people: uid=UID, cn Name, mail Email (none when
// empty), userPassword Password.
type User struct {
	UID, Name, Email, Password string
}

// Group is a groupOfNames in ou=groups whose members are the people
// with the given UIDs (at least one: the schema requires a member).
type Group struct {
	CN      string
	Members []string
}

// Options say what the directory holds.
type Options struct {
	Users  []User
	Groups []Group
}

// Server is a running slapd.
type Server struct {
	ldapURL, ldapsURL string
	caFile            string // the CA's certificate, PEM
	roots             *x509.CertPool
	servicePassword   string
	proc              *proc.Process
	log               *opLog
}

// Start starts slapd for the test, seeds it and stops it when the test
// ends. It skips the test (fails it under CI=true) when slapd is not
// installed.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	_, err := os.Stat(Slapd)
	testdep.Require(t, err == nil, "slapd (apt-get install slapd)")
	dir := t.TempDir()
	roots, err := writeCerts(dir)
	if err != nil {
		t.Fatalf("testldap: certificates: %v", err)
	}
	s := &Server{roots: roots, caFile: filepath.Join(dir, "ca.pem"), servicePassword: rand.Text()}
	rootPassword := rand.Text()
	// A port picked free can be taken before slapd binds it; try again.
	for attempt := 1; ; attempt++ {
		err = s.start(t, dir, rootPassword)
		if err == nil {
			break
		}
		if attempt == 3 {
			t.Fatalf("testldap: %v", err)
		}
		t.Logf("testldap: attempt %d: %v", attempt, err)
	}
	if err := s.seed(rootPassword, opts); err != nil {
		t.Fatalf("testldap: seeding the directory: %v\n%s", err, s.log.text())
	}
	// Conns reports the test's connections only: not the seeding's nor
	// the readiness probes', once slapd has logged them closed.
	deadline := time.Now().Add(opTimeout)
	for !s.log.settle() {
		if time.Now().After(deadline) {
			t.Fatalf("testldap: slapd did not log the seeding's connections closed within %s:\n%s", opTimeout, s.log.text())
		}
		time.Sleep(10 * time.Millisecond)
	}
	return s
}

func (s *Server) start(t testing.TB, dir, rootPassword string) error {
	ports, err := freePorts(2)
	if err != nil {
		return err
	}
	s.ldapURL = fmt.Sprintf("ldap://127.0.0.1:%d", ports[0])
	s.ldapsURL = fmt.Sprintf("ldaps://127.0.0.1:%d", ports[1])
	db := filepath.Join(dir, "db")
	if err := os.RemoveAll(db); err != nil {
		return err
	}
	if err := os.Mkdir(db, 0o700); err != nil {
		return err
	}
	conf := filepath.Join(dir, "slapd.conf")
	if err := os.WriteFile(conf, []byte(config(dir, rootPassword)), 0o600); err != nil {
		return err
	}
	s.log = &opLog{conns: map[int]*Conn{}, changed: make(chan struct{}, 1)}
	r, w, err := os.Pipe()
	if err != nil {
		return err
	}
	// -d stats: stay in the foreground and log each operation to stderr.
	cmd := exec.Command(Slapd, "-f", conf, "-h", s.ldapURL+"/ "+s.ldapsURL+"/", "-d", "stats")
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = w, w
	p, err := proc.Start(cmd)
	w.Close()
	if err != nil {
		r.Close()
		return fmt.Errorf("start slapd: %w", err)
	}
	go s.log.read(r)
	s.proc = p
	log := s.log
	t.Cleanup(func() {
		_ = p.Stop(5 * time.Second)
		if t.Failed() {
			t.Logf("testldap: slapd log:\n%s", log.text())
		}
	})
	if err := s.waitReady(ports); err != nil {
		p.Kill()
		return fmt.Errorf("%w\n%s", err, s.log.text())
	}
	return nil
}

// waitReady waits until slapd accepts connections on both ports.
func (s *Server) waitReady(ports []int) error {
	deadline := time.Now().Add(startLimit)
	for _, port := range ports {
		for {
			if s.proc.Exited() {
				return fmt.Errorf("slapd exited (%v)", s.proc.Err())
			}
			c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
			if err == nil {
				c.Close()
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("slapd not listening on %d after %s: %v", port, startLimit, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return nil
}

// config is slapd.conf for a directory in dir.
func config(dir, rootPassword string) string {
	return fmt.Sprintf(`include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
include /etc/ldap/schema/nis.schema
modulepath /usr/lib/ldap
moduleload back_mdb
moduleload memberof
pidfile %[1]s/slapd.pid
argsfile %[1]s/slapd.args
TLSCACertificateFile %[1]s/ca.pem
TLSCertificateFile %[1]s/server.pem
TLSCertificateKeyFile %[1]s/server.key
sizelimit 500

database mdb
maxsize 16777216
suffix %[2]q
rootdn %[3]q
rootpw %[4]s
directory %[1]s/db
overlay memberof
memberof-refint true
# A password is only for binding; signed-in people and the service
# account read the rest; anonymous clients may only bind.
access to attrs=userPassword by self =xw by anonymous auth by * none
access to * by users read by anonymous auth
`, dir, BaseDN, rootDN, ssha(rootPassword))
}

// seed adds the service account, the people and the groups, online, so
// that the memberof overlay sets the people's memberOf.
func (s *Server) seed(rootPassword string, opts Options) error {
	c, err := ldap.DialURL(s.ldapURL, ldap.DialWithDialer(&net.Dialer{Timeout: opTimeout}))
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetTimeout(opTimeout)
	if err := c.Bind(rootDN, rootPassword); err != nil {
		return err
	}
	add := func(dn string, attrs map[string][]string) error {
		r := ldap.NewAddRequest(dn, nil)
		for _, name := range []string{"objectClass", "ou", "dc", "o", "cn", "sn", "uid", "mail", "userPassword", "member", "description"} {
			if v, ok := attrs[name]; ok {
				r.Attribute(name, v)
			}
		}
		if err := c.Add(r); err != nil {
			return fmt.Errorf("add %s: %w", dn, err)
		}
		return nil
	}
	entries := []struct {
		dn    string
		attrs map[string][]string
	}{
		{BaseDN, map[string][]string{"objectClass": {"dcObject", "organization"}, "dc": {"example"}, "o": {"Example"}}},
		{PeopleDN, map[string][]string{"objectClass": {"organizationalUnit"}, "ou": {"people"}}},
		{GroupsDN, map[string][]string{"objectClass": {"organizationalUnit"}, "ou": {"groups"}}},
		{"ou=services," + BaseDN, map[string][]string{"objectClass": {"organizationalUnit"}, "ou": {"services"}}},
		{ServiceDN, map[string][]string{"objectClass": {"organizationalRole", "simpleSecurityObject"}, "cn": {"erpgate"},
			"userPassword": {ssha(s.servicePassword)}, "description": {"the account erpgate searches the directory as"}}},
	}
	for _, e := range entries {
		if err := add(e.dn, e.attrs); err != nil {
			return err
		}
	}
	uids := map[string]bool{}
	for _, u := range opts.Users {
		attrs := map[string][]string{"objectClass": {"inetOrgPerson"}, "uid": {u.UID}, "cn": {u.Name}, "sn": {u.Name},
			"userPassword": {ssha(u.Password)}}
		if u.Email != "" {
			attrs["mail"] = []string{u.Email}
		}
		if err := add(UserDN(u.UID), attrs); err != nil {
			return err
		}
		uids[u.UID] = true
	}
	for _, g := range opts.Groups {
		if len(g.Members) == 0 {
			return fmt.Errorf("group %s has no members (groupOfNames requires one)", g.CN)
		}
		var members []string
		for _, uid := range g.Members {
			if !uids[uid] {
				return fmt.Errorf("group %s: no user %s", g.CN, uid)
			}
			members = append(members, UserDN(uid))
		}
		if err := add(GroupDN(g.CN), map[string][]string{"objectClass": {"groupOfNames"}, "cn": {g.CN}, "member": members}); err != nil {
			return err
		}
	}
	return nil
}

// UserDN is the DN of the person with uid.
func UserDN(uid string) string { return "uid=" + ldap.EscapeDN(uid) + "," + PeopleDN }

// GroupDN is the DN of the group cn.
func GroupDN(cn string) string { return "cn=" + ldap.EscapeDN(cn) + "," + GroupsDN }

// URL is slapd's ldap:// address (StartTLS offered), e.g.
// ldap://127.0.0.1:PORT.
func (s *Server) URL() string { return s.ldapURL }

// LDAPSURL is slapd's ldaps:// address.
func (s *Server) LDAPSURL() string { return s.ldapsURL }

// RootCAs holds the CA that signed slapd's certificate (for 127.0.0.1
// and localhost).
func (s *Server) RootCAs() *x509.CertPool { return s.roots }

// CAFile is the PEM file of that CA, for a gateway's ca_file.
func (s *Server) CAFile() string { return s.caFile }

// BaseDN is the directory's suffix.
func (s *Server) BaseDN() string { return BaseDN }

// BindDN is the service account's DN; it may read everything but
// passwords.
func (s *Server) BindDN() string { return ServiceDN }

// BindPassword is the service account's password.
func (s *Server) BindPassword() string { return s.servicePassword }

// Stop stops slapd (for directory-down tests). Stopping a stopped
// server does nothing.
func (s *Server) Stop() { _ = s.proc.Stop(5 * time.Second) }

// Conn is a client connection slapd saw closed, with the operations done
// on it.
type Conn struct {
	ID  int
	Ops []Op
}

// Op is one LDAP operation as slapd logged it.
type Op struct {
	Kind   string // BIND, SRCH, EXT, UNBIND, ADD, MOD, DEL, CMP, …
	DN     string // a bind's DN, a search's base
	Filter string // a search's filter as slapd understood it
	Err    int    // the LDAP result code (49 invalidCredentials…); -1 when slapd logged none
	id     int    // slapd's op=; zero in what Conns returns
}

// Conns returns the connections slapd has seen closed since Start
// returned, in the order they closed.
func (s *Server) Conns() []Conn { return s.log.closed() }

// WaitConns waits up to timeout until slapd has seen n connections
// closed since Start returned, and returns them.
func (s *Server) WaitConns(n int, timeout time.Duration) []Conn {
	deadline := time.After(timeout)
	for {
		if got := s.log.closed(); len(got) >= n {
			return got
		}
		select {
		case <-s.log.changed:
		case <-deadline:
			return s.log.closed()
		}
	}
}

var (
	// conn=1001 op=2 BIND dn="uid=alice,ou=people,dc=example,dc=com" method=128
	// conn=1001 op=3 SRCH base="dc=example,dc=com" scope=2 deref=0 filter="(uid=alice)"
	requestRE = regexp.MustCompile(`conn=(\d+) op=(\d+) ([A-Z]+) (?:dn|base|oid)=("[^"]*"|\S+)(?:.* filter="([^"]*)")?`)
	unbindRE  = regexp.MustCompile(`conn=(\d+) op=(\d+) UNBIND`)
	// conn=1001 op=2 RESULT tag=97 err=49 qtime=… text=
	// conn=1001 op=3 SEARCH RESULT tag=101 err=0 … nentries=1 text=
	resultRE = regexp.MustCompile(`conn=(\d+) op=(\d+) (?:SEARCH )?RESULT .*?\berr=(\d+)`)
	closedRE = regexp.MustCompile(`conn=(\d+) fd=\d+ closed`)
	acceptRE = regexp.MustCompile(`conn=(\d+) fd=\d+ ACCEPT`)
)

// opLog is slapd's log, read as it comes, and the operations in it.
type opLog struct {
	mu      sync.Mutex
	all     bytes.Buffer
	conns   map[int]*Conn
	order   []int // closed connections, in the order they closed
	open    int   // connections accepted and not closed yet
	base    int   // connections up to this id are not reported
	changed chan struct{}
}

// settle sets the base to the last connection when every connection
// accepted so far has closed, and reports whether it did.
func (l *opLog) settle() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.open > 0 {
		return false
	}
	for id := range l.conns {
		l.base = max(l.base, id)
	}
	return true
}

func (l *opLog) read(r *os.File) {
	defer r.Close()
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for sc.Scan() {
		l.line(sc.Text())
	}
}

func (l *opLog) line(line string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.all.WriteString(line)
	l.all.WriteByte('\n')
	atoi := func(s string) int { n, _ := strconv.Atoi(s); return n }
	conn := func(id string) *Conn {
		c := l.conns[atoi(id)]
		if c == nil {
			c = &Conn{ID: atoi(id)}
			l.conns[c.ID] = c
		}
		return c
	}
	switch {
	case acceptRE.MatchString(line):
		conn(acceptRE.FindStringSubmatch(line)[1])
		l.open++
	case resultRE.MatchString(line):
		m := resultRE.FindStringSubmatch(line)
		c := conn(m[1])
		if op := lastOp(c, atoi(m[2])); op != nil {
			op.Err = atoi(m[3])
		}
	case requestRE.MatchString(line):
		m := requestRE.FindStringSubmatch(line)
		c := conn(m[1])
		opID := atoi(m[2])
		// slapd logs a bind twice (method=, then mech=): one operation.
		if len(c.Ops) > 0 && c.Ops[len(c.Ops)-1].id == opID {
			return
		}
		c.Ops = append(c.Ops, Op{Kind: m[3], DN: strings.Trim(m[4], `"`), Filter: m[5], Err: -1, id: opID})
	case unbindRE.MatchString(line):
		m := unbindRE.FindStringSubmatch(line)
		c := conn(m[1])
		c.Ops = append(c.Ops, Op{Kind: "UNBIND", Err: -1, id: atoi(m[2])})
	case closedRE.MatchString(line):
		c := conn(closedRE.FindStringSubmatch(line)[1])
		l.open--
		l.order = append(l.order, c.ID)
		select {
		case l.changed <- struct{}{}:
		default:
		}
	}
}

func lastOp(c *Conn, id int) *Op {
	for i := len(c.Ops) - 1; i >= 0; i-- {
		if c.Ops[i].id == id {
			return &c.Ops[i]
		}
	}
	return nil
}

func (l *opLog) closed() []Conn {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]Conn, 0, len(l.order))
	for _, id := range l.order {
		if id <= l.base {
			continue
		}
		c := *l.conns[id]
		c.Ops = append([]Op(nil), c.Ops...)
		for i := range c.Ops {
			c.Ops[i].id = 0
		}
		out = append(out, c)
	}
	return out
}

func (l *opLog) text() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.all.String()
}

// ssha is password in RFC 2307 {SSHA} form: SHA-1 over the password and
// a random salt, then the salt.
func ssha(password string) string {
	salt := make([]byte, 8)
	_, _ = rand.Read(salt)
	sum := sha1.Sum(append([]byte(password), salt...))
	return "{SSHA}" + base64.StdEncoding.EncodeToString(append(sum[:], salt...))
}

// writeCerts writes ca.pem, server.pem and server.key to dir: a CA made
// for this test and a certificate it signed for 127.0.0.1 and localhost.
func writeCerts(dir string) (*x509.CertPool, error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "testldap CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	files := map[string]*pem.Block{
		"ca.pem":     {Type: "CERTIFICATE", Bytes: caDER},
		"server.pem": {Type: "CERTIFICATE", Bytes: der},
		"server.key": {Type: "PRIVATE KEY", Bytes: keyDER},
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), pem.EncodeToMemory(b), 0o600); err != nil {
			return nil, err
		}
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return pool, nil
}

// freePorts returns n loopback ports that were free a moment ago.
func freePorts(n int) ([]int, error) {
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// TLSConfig is a client configuration that trusts slapd's certificate.
func (s *Server) TLSConfig() *tls.Config {
	return &tls.Config{RootCAs: s.roots, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}
}

package testldap

import (
	"net"
	"slices"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"
)

func TestStart(t *testing.T) {
	s := Start(t, Options{
		Users:  []User{{UID: "alice", Name: "Alice", Email: "alice@example.com", Password: "pw-a"}, {UID: "bob", Name: "Bob", Password: "pw-b"}},
		Groups: []Group{{CN: "admins", Members: []string{"alice"}}},
	})
	const seeded = 0 // Conns reports only the test's connections

	dialer := ldap.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second})
	c, err := ldap.DialURL(s.URL(), dialer)
	if err != nil {
		t.Fatal(err)
	}
	c.SetTimeout(5 * time.Second)
	if err := c.StartTLS(s.TLSConfig()); err != nil {
		t.Fatal(err)
	}
	if err := c.Bind(s.BindDN(), s.BindPassword()); err != nil {
		t.Fatal(err)
	}
	res, err := c.Search(ldap.NewSearchRequest(PeopleDN, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 5, false,
		"(uid=alice)", []string{"cn", "mail", "memberOf", "userPassword"}, nil))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Entries) != 1 {
		t.Fatalf("%d entries for alice", len(res.Entries))
	}
	e := res.Entries[0]
	if e.DN != UserDN("alice") || e.GetAttributeValue("mail") != "alice@example.com" ||
		!slices.Equal(e.GetAttributeValues("memberOf"), []string{GroupDN("admins")}) {
		t.Errorf("alice: %s mail %q memberOf %v", e.DN, e.GetAttributeValue("mail"), e.GetAttributeValues("memberOf"))
	}
	if e.GetAttributeValue("userPassword") != "" {
		t.Error("the service account reads passwords")
	}
	if err := c.Bind(UserDN("bob"), "wrong"); !ldap.IsErrorWithCode(err, ldap.LDAPResultInvalidCredentials) {
		t.Errorf("bind with a wrong password: %v", err)
	}
	c.Close()

	// The same over LDAPS.
	c, err = ldap.DialURL(s.LDAPSURL(), dialer, ldap.DialWithTLSConfig(s.TLSConfig()))
	if err != nil {
		t.Fatal(err)
	}
	c.SetTimeout(5 * time.Second)
	if err := c.Bind(UserDN("bob"), "pw-b"); err != nil {
		t.Errorf("bob over LDAPS: %v", err)
	}
	c.Close()

	conns := s.WaitConns(seeded+2, 5*time.Second)
	if len(conns) != seeded+2 {
		t.Fatalf("%d connections closed; want %d", len(conns), seeded+2)
	}
	kinds := func(c Conn) (k []string) {
		for _, op := range c.Ops {
			k = append(k, op.Kind)
		}
		return k
	}
	first, second := conns[seeded], conns[seeded+1]
	if want := []string{"EXT", "BIND", "SRCH", "BIND"}; !slices.Equal(kinds(first), want) {
		t.Errorf("first connection's operations %+v; want %v", first.Ops, want)
	} else if first.Ops[2].Filter != "(uid=alice)" || first.Ops[3].DN != UserDN("bob") || first.Ops[3].Err != 49 || first.Ops[1].Err != 0 {
		t.Errorf("first connection's operations %+v", first.Ops)
	}
	if want := []string{"BIND"}; !slices.Equal(kinds(second), want) || second.Ops[0].Err != 0 {
		t.Errorf("second connection's operations %+v; want a successful bind", second.Ops)
	}

	s.Stop()
	s.Stop()
	if c, err := net.DialTimeout("tcp", s.URL()[len("ldap://"):], time.Second); err == nil {
		c.Close()
		t.Error("slapd still listening after Stop")
	}
}

package federation

import "testing"

func TestRulesDecide(t *testing.T) {
	rules := Rules{
		InternalDomains: []string{"example.com"},
		Others:          OthersCommunity,
		AdminGroups:     []string{"erp-admins"},
		InternalGroups:  []string{"staff"},
		CommunityGroups: []string{"partners"},
		LinkExisting:    LinkByVerifiedEmail,
	}
	verified := func(login, email string, groups ...string) Identity {
		return Identity{Login: login, Email: email, EmailVerified: true, Groups: groups}
	}
	tests := []struct {
		name  string
		rules Rules
		id    Identity
		ex    Existing
		want  Decision
	}{
		{"internal domain", rules, verified("ann", "ann@example.com"), Existing{},
			Decision{Do: DecideCreate, Login: "ann", Type: "internal"}},
		{"domain ignores case", rules, verified("ann", "ann@EXAMPLE.com"), Existing{},
			Decision{Do: DecideCreate, Login: "ann", Type: "internal"}},
		{"other domain: community", rules, verified("bo", "bo@partner.example"), Existing{},
			Decision{Do: DecideCreate, Login: "bo", Type: "community"}},
		{"unverified internal domain decides nothing", rules, Identity{Login: "eve", Email: "eve@example.com"}, Existing{},
			Decision{Do: DecideCreate, Login: "eve", Type: "community"}},
		{"others refused by default", Rules{InternalDomains: []string{"example.com"}}, verified("bo", "bo@partner.example"), Existing{},
			Decision{Reason: RefuseByRules}},
		{"admin group", rules, verified("root", "root@partner.example", "ERP-Admins"), Existing{},
			Decision{Do: DecideCreate, Login: "root", Type: "internal", Admin: true}},
		{"admin group as an LDAP DN", rules, verified("root", "", `cn=erp-admins,ou=groups,dc=example,dc=com`), Existing{},
			Decision{Do: DecideCreate, Login: "root", Type: "internal", Admin: true}},
		{"DN with an escaped comma", Rules{InternalGroups: []string{"staff, berlin"}}, verified("s", "", `cn=staff\, berlin,ou=groups`), Existing{},
			Decision{Do: DecideCreate, Login: "s", Type: "internal"}},
		{"a later RDN does not match", Rules{AdminGroups: []string{"groups"}}, verified("s", "", `cn=staff,ou=groups`), Existing{},
			Decision{Reason: RefuseByRules}},
		{"internal group beats a community domain", rules, verified("s", "s@partner.example", "staff"), Existing{},
			Decision{Do: DecideCreate, Login: "s", Type: "internal"}},
		{"community group beats an internal domain", rules, verified("p", "p@example.com", "partners"), Existing{},
			Decision{Do: DecideCreate, Login: "p", Type: "community"}},
		{"link by verified email", rules, verified("alice.x", "alice@example.com"), Existing{EmailOwner: "alice"},
			Decision{Do: DecideLink, Login: "alice"}},
		{"unverified email does not link", rules, Identity{Login: "alice.x", Email: "alice@example.com"}, Existing{EmailOwner: "alice"},
			Decision{Reason: RefuseEmailUnverified}},
		{"never links by default", Rules{Others: OthersCommunity}, verified("alice.x", "alice@example.com"), Existing{EmailOwner: "alice"},
			Decision{Do: DecideCreate, Login: "alice.x", Type: "community"}},
		{"login taken", rules, verified("alice", "alice@other.example"), Existing{LoginTaken: true},
			Decision{Reason: RefuseLoginTaken}},
		{"no login", rules, Identity{}, Existing{}, Decision{Reason: RefuseNoLogin}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.rules.Decide(tt.id, tt.ex); got != tt.want {
				t.Errorf("Decide = %+v, want %+v", got, tt.want)
			}
		})
	}
}

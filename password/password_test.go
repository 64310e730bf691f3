package password

import "testing"

// cheap keeps tests fast; the format and checks are the same.
var cheap = Params{Memory: 64, Time: 1, Threads: 1}

func TestHashVerify(t *testing.T) {
	h := Hash("correct horse", cheap)
	if !Valid(h) {
		t.Fatalf("Valid(%q) = false", h)
	}
	if ok, err := Verify(h, "correct horse"); err != nil || !ok {
		t.Fatalf("Verify(right) = %v, %v", ok, err)
	}
	if ok, err := Verify(h, "correct horsE"); err != nil || ok {
		t.Fatalf("Verify(wrong) = %v, %v", ok, err)
	}
	if h2 := Hash("correct horse", cheap); h2 == h {
		t.Fatal("two hashes of one password are equal: salt not random")
	}
}

func TestVerifyMalformed(t *testing.T) {
	for _, phc := range []string{
		"",
		"plain",
		"$argon2i$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=18$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=99999999,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=64,t=1,p=1$!!$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$short",
	} {
		if _, err := Verify(phc, "x"); err == nil {
			t.Errorf("Verify(%q) accepted a malformed hash", phc)
		}
	}
}

func TestDummy(t *testing.T) {
	d := Dummy(cheap)
	if !Valid(d) {
		t.Fatalf("Dummy() = %q is not a valid PHC string", d)
	}
	if ok, err := Verify(d, ""); err != nil || ok {
		t.Fatalf("Verify(dummy, \"\") = %v, %v; want false, nil", ok, err)
	}
}

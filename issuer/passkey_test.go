package issuer

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-webauthn/webauthn/protocol/webauthncbor"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// softKey is a software authenticator built from the WebAuthn spec
// (§6.1 authenticator data, §6.5 attestation "none", §8 COSE ES256): a
// test double of the browser and its authenticator, so the issuer's
// ceremonies can be driven without one. The real-browser proof is
// e2e/passkey_browser_test.go with Chromium's virtual authenticator.
type softKey struct {
	t      *testing.T
	priv   *ecdsa.PrivateKey
	id     []byte
	handle []byte // the user handle, learned at registration
	count  uint32
	origin string // what clientDataJSON says
	rpID   string // what the rpIdHash is of; "" the options' rp id
	uv     bool   // user verified
	be     bool   // backup eligible (a synced passkey)
}

func newSoftKey(t *testing.T, origin string) *softKey {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	id := make([]byte, 16)
	_, _ = rand.Read(id)
	return &softKey{t: t, priv: priv, id: id, origin: origin, uv: true, count: 1}
}

type passkeyOptions struct {
	PublicKey struct {
		Challenge string `json:"challenge"`
		RPID      string `json:"rpId"`
		RP        struct {
			ID string `json:"id"`
		} `json:"rp"`
		User struct {
			ID string `json:"id"`
		} `json:"user"`
		AllowCredentials []struct {
			ID string `json:"id"`
		} `json:"allowCredentials"`
		UserVerification       string `json:"userVerification"`
		AuthenticatorSelection struct {
			ResidentKey      string `json:"residentKey"`
			UserVerification string `json:"userVerification"`
		} `json:"authenticatorSelection"`
	} `json:"publicKey"`
}

var passkeyOptionsOnPage = regexp.MustCompile(`id="([a-z-]+)"[^>]* data-passkey="(?:create|get)" data-options="([^"]*)"`)

// pageOptions are the ceremony options of the page's passkey button id.
func pageOptions(t *testing.T, page, button string) passkeyOptions {
	t.Helper()
	for _, m := range passkeyOptionsOnPage.FindAllStringSubmatch(page, -1) {
		if m[1] == button {
			var o passkeyOptions
			if err := json.Unmarshal([]byte(html.UnescapeString(m[2])), &o); err != nil {
				t.Fatal(err)
			}
			return o
		}
	}
	t.Fatalf("no passkey button %q on the page:\n%s", button, page)
	return passkeyOptions{}
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func (k *softKey) clientData(typ, challenge string) []byte {
	c, _ := json.Marshal(map[string]any{"type": typ, "challenge": challenge, "origin": k.origin, "crossOrigin": false})
	return c
}

func (k *softKey) authData(rpID string, attested []byte) []byte {
	if k.rpID != "" {
		rpID = k.rpID
	}
	h := sha256.Sum256([]byte(rpID))
	flags := byte(0x01) // UP
	if k.uv {
		flags |= 0x04
	}
	if k.be {
		flags |= 0x08 | 0x10
	}
	if attested != nil {
		flags |= 0x40
	}
	out := append(h[:], flags)
	out = binary.BigEndian.AppendUint32(out, k.count)
	return append(out, attested...)
}

// create answers registration options as navigator.credentials.create
// would, serialised as passkey.js posts it.
func (k *softKey) create(o passkeyOptions) string {
	k.t.Helper()
	handle, err := base64.RawURLEncoding.DecodeString(o.PublicKey.User.ID)
	if err != nil || len(handle) == 0 {
		k.t.Fatalf("user handle %q: %v", o.PublicKey.User.ID, err)
	}
	k.handle = handle
	x, y := k.priv.X.FillBytes(make([]byte, 32)), k.priv.Y.FillBytes(make([]byte, 32))
	cose, err := webauthncbor.Marshal(map[int]any{1: 2, 3: -7, -1: 1, -2: x, -3: y})
	if err != nil {
		k.t.Fatal(err)
	}
	attested := make([]byte, 16) // AAGUID: none
	attested = binary.BigEndian.AppendUint16(attested, uint16(len(k.id)))
	attested = append(append(attested, k.id...), cose...)
	att, err := webauthncbor.Marshal(map[string]any{"fmt": "none", "attStmt": map[string]any{},
		"authData": k.authData(o.PublicKey.RP.ID, attested)})
	if err != nil {
		k.t.Fatal(err)
	}
	body, _ := json.Marshal(map[string]any{"id": b64(k.id), "rawId": b64(k.id), "type": "public-key",
		"response": map[string]any{"clientDataJSON": b64(k.clientData("webauthn.create", o.PublicKey.Challenge)),
			"attestationObject": b64(att), "transports": []string{"internal"}}})
	return string(body)
}

// get answers assertion options as navigator.credentials.get would.
func (k *softKey) get(o passkeyOptions) string {
	k.t.Helper()
	k.count++
	auth := k.authData(o.PublicKey.RPID, nil)
	cd := k.clientData("webauthn.get", o.PublicKey.Challenge)
	cdHash := sha256.Sum256(cd)
	digest := sha256.Sum256(append(slices.Clone(auth), cdHash[:]...))
	sig, err := ecdsa.SignASN1(rand.Reader, k.priv, digest[:])
	if err != nil {
		k.t.Fatal(err)
	}
	body, _ := json.Marshal(map[string]any{"id": b64(k.id), "rawId": b64(k.id), "type": "public-key",
		"response": map[string]any{"clientDataJSON": b64(cd), "authenticatorData": b64(auth),
			"signature": b64(sig), "userHandle": b64(k.handle)}})
	return string(body)
}

// newPasskeyServer is a test server whose issuer has a host name (an IP
// address cannot be a relying party id), with passkeys on.
func newPasskeyServer(t *testing.T) (*testServer, string) {
	var origin string
	ts := newTestServer(t, func(c *testConfig) {
		c.Issuer = strings.Replace(c.Issuer, "127.0.0.1", "localhost", 1)
		u, _ := url.Parse(c.Issuer)
		origin = u.Scheme + "://" + u.Host
		c.Passkeys = c.store
	})
	return ts, origin
}

// registerPasskey signs alice in with her password and adds key on the
// account page with name.
func registerPasskey(t *testing.T, ts *testServer, key *softKey, name string) {
	t.Helper()
	b := newBrowser(t, ts)
	b.login(authzQuery(webID, webRedirect, "openid read", newPKCE()), "alice", "alice-pw")
	resp, page := b.get(ts.issuer + accountSecurityPath)
	if resp.StatusCode != 200 || !strings.Contains(page, `id="passkeys-none"`) ||
		!strings.Contains(resp.Header.Get("Content-Security-Policy"), "script-src 'self'") {
		t.Fatalf("security page: %d %s\n%s", resp.StatusCode, resp.Header.Get("Content-Security-Policy"), page)
	}
	o := pageOptions(t, page, "add-passkey")
	if o.PublicKey.AuthenticatorSelection.ResidentKey != "preferred" || o.PublicKey.AuthenticatorSelection.UserVerification != "preferred" {
		t.Errorf("registration options: %+v", o.PublicKey.AuthenticatorSelection)
	}
	if u, _ := url.Parse(key.origin); o.PublicKey.RP.ID != u.Hostname() {
		t.Errorf("rp id %q, want the issuer's host", o.PublicKey.RP.ID)
	}
	if strings.Contains(o.PublicKey.User.ID, b64([]byte("alice"))) {
		t.Error("the user handle carries the login")
	}
	resp, page = b.accountPost(page, accountPasskeysPath+"/add", url.Values{"name": {name}, "credential": {key.create(o)}})
	if resp.StatusCode != 200 || !strings.Contains(page, `id="passkeys"`) || !strings.Contains(page, html.EscapeString(name)) {
		t.Fatalf("add passkey: %d\n%s", resp.StatusCode, page)
	}
}

func TestPasskeySecondFactorAndPasswordless(t *testing.T) {
	ts, origin := newPasskeyServer(t)
	key := newSoftKey(t, origin)
	registerPasskey(t, ts, key, "Work laptop")
	keys, err := ts.store.Passkeys(t.Context(), "alice")
	if err != nil || len(keys) != 1 || keys[0].Name != "Work laptop" || !keys[0].UserVerified || keys[0].BackupEligible {
		t.Fatalf("stored passkeys: %+v %v", keys, err)
	}

	// Second factor: the password step now leads to the second step,
	// which offers the passkey (and no code form: no TOTP factor).
	b := newBrowser(t, ts)
	p := newPKCE()
	page := b.secondStep(b.passwordStep(authzQuery(webID, webRedirect, "openid read", p), "alice", "alice-pw"))
	o := pageOptions(t, page, "passkey-second")
	if len(o.PublicKey.AllowCredentials) != 1 || o.PublicKey.AllowCredentials[0].ID != b64(key.id) || strings.Contains(page, `name="code"`) {
		t.Fatalf("second step options %+v\n%s", o.PublicKey, page)
	}
	f := formFields(page)
	f.Set("credential", key.get(o))
	ceremonyCookie := cookieValue(b, ts, passkeyCookie(ceremonySecondFactor))
	resp, _ := b.post(ts.issuer+mfaPasskeyPath, f)
	res := finishAuthorization(t, ts, resp, p)
	at := ts.accessClaims(t, res.body["access_token"].(string))
	if at.ACR != "mfa" || !slices.Equal(at.AuthMethods, []string{"pwd", "hwk", "mfa"}) {
		t.Errorf("second-factor sign-in: acr %q amr %v", at.ACR, at.AuthMethods)
	}
	if id := ts.idClaims(t, res.body["id_token"].(string)); id.ACR != "mfa" || !slices.Equal(id.AMR, []string{"pwd", "hwk", "mfa"}) {
		t.Errorf("ID token: acr %q amr %v", id.ACR, id.AMR)
	}

	// Replayed session data: the spent ceremony again, with a fresh
	// assertion over its challenge, on a new second step.
	b2 := newBrowser(t, ts)
	page = b2.secondStep(b2.passwordStep(authzQuery(webID, webRedirect, "openid read", newPKCE()), "alice", "alice-pw"))
	setCookie(b2, ts, passkeyCookie(ceremonySecondFactor), ceremonyCookie)
	f = formFields(page)
	f.Set("credential", key.get(o))
	if resp, page := b2.post(ts.issuer+mfaPasskeyPath, f); resp.StatusCode != 200 || !strings.Contains(page, "not valid") {
		t.Fatalf("replayed ceremony: %d\n%s", resp.StatusCode, page)
	}

	// Passwordless: the login page's discoverable ceremony, UV required.
	b3 := newBrowser(t, ts)
	p3 := newPKCE()
	page = b3.loginPage(authzQuery(webID, webRedirect, "openid read", p3))
	o = pageOptions(t, page, "passkey-signin")
	if len(o.PublicKey.AllowCredentials) != 0 || o.PublicKey.UserVerification != "required" {
		t.Fatalf("passwordless options: %+v", o.PublicKey)
	}
	f = formFields(page)
	f.Set("credential", key.get(o))
	resp, _ = b3.post(ts.issuer+loginPasskeyPath, f)
	at = ts.accessClaims(t, finishAuthorization(t, ts, resp, p3).body["access_token"].(string))
	if at.ACR != "mfa" || !slices.Equal(at.AuthMethods, []string{"hwk", "mfa"}) || at.Subject == "" {
		t.Errorf("passwordless sign-in: acr %q amr %v sub %q", at.ACR, at.AuthMethods, at.Subject)
	}
	if k, _ := ts.store.PasskeyByCredentialID(t.Context(), key.id); k.SignCount != key.count || k.LastUsedAt.IsZero() {
		t.Errorf("after use: count %d (key %d), last used %v", k.SignCount, key.count, k.LastUsedAt)
	}

	// A passwordless assertion without user verification is refused.
	key.uv = false
	passwordlessRefused(t, ts, key, "without UV")
	key.uv = true
	// The sign count went backwards: a clone (WebAuthn §6.1.1).
	key.count -= 3
	passwordlessRefused(t, ts, key, "sign-count regression")
	key.count += 10
	// Another origin, another RP id.
	key.origin = "http://evil.example:" + strings.Split(origin, ":")[2]
	passwordlessRefused(t, ts, key, "wrong origin")
	key.origin, key.rpID = origin, "evil.example"
	passwordlessRefused(t, ts, key, "wrong rp id")
	key.rpID = ""
	if got := testutilCount(t, ts, "passkey", "failure"); got != 5 {
		t.Errorf("erpgate_mfa_total{factor=passkey,result=failure} = %v, want 5 (4 here, 1 replay)", got)
	}
}

func passwordlessRefused(t *testing.T, ts *testServer, key *softKey, what string) {
	t.Helper()
	b := newBrowser(t, ts)
	page := b.loginPage(authzQuery(webID, webRedirect, "openid read", newPKCE()))
	f := formFields(page)
	f.Set("credential", key.get(pageOptions(t, page, "passkey-signin")))
	resp, page := b.post(ts.issuer+loginPasskeyPath, f)
	if resp.StatusCode != 200 || !strings.Contains(page, "passkey was not accepted") {
		t.Fatalf("passwordless %s: %d %s\n%s", what, resp.StatusCode, resp.Header.Get("Location"), page)
	}
}

// The account page renames and removes; a user who must pass a second
// factor keeps the last one; an operator's reset removes passkeys.
func TestPasskeyAccountRemoveAndReset(t *testing.T) {
	ts, origin := newPasskeyServer(t)
	key := newSoftKey(t, origin)
	registerPasskey(t, ts, key, "Phone")
	b := newBrowser(t, ts)
	page := b.secondStep(b.passwordStep(authzQuery(webID, webRedirect, "openid read", newPKCE()), "alice", "alice-pw"))
	f := formFields(page)
	f.Set("credential", key.get(pageOptions(t, page, "passkey-second")))
	if resp, _ := b.post(ts.issuer+mfaPasskeyPath, f); resp.StatusCode != http.StatusFound {
		t.Fatalf("second factor: %d", resp.StatusCode)
	}
	_, page = b.get(ts.issuer + accountSecurityPath)
	id := b64(key.id)
	resp, page := b.accountPost(page, accountPasskeysPath+"/rename", url.Values{"id": {id}, "name": {"Old phone"}})
	if resp.StatusCode != 200 || !strings.Contains(page, "Old phone") {
		t.Fatalf("rename: %d\n%s", resp.StatusCode, page)
	}
	// Without the anti-forgery token: refused.
	if resp, _ := b.post(ts.issuer+accountPasskeysPath+"/remove", url.Values{"id": {id}}); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("remove without the form token: %d", resp.StatusCode)
	}
	// The user's policy requires a second factor: the last one stays.
	u := testUsers()
	for i := range u {
		u[i].MFARequired = u[i].Login == "alice"
	}
	ts.directory.SetConfig(testApps(), u)
	if err := ts.directory.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	resp, page = b.accountPost(page, accountPasskeysPath+"/remove", url.Values{"id": {id}})
	if resp.StatusCode != http.StatusConflict || !strings.Contains(page, "last one") {
		t.Fatalf("remove the last factor of a required user: %d\n%s", resp.StatusCode, page)
	}
	ts.directory.SetConfig(testApps(), testUsers())
	if err := ts.directory.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	resp, page = b.accountPost(page, accountPasskeysPath+"/remove", url.Values{"id": {id}})
	if resp.StatusCode != 200 || !strings.Contains(page, `id="passkeys-none"`) {
		t.Fatalf("remove: %d\n%s", resp.StatusCode, page)
	}
	passwordlessRefused(t, ts, key, "after removal")

	// An operator's reset (DeleteFactors) takes passkeys too: the
	// password alone signs in again.
	key2 := newSoftKey(t, origin)
	registerPasskey(t, ts, key2, "Tablet")
	if err := ts.store.DeleteFactors(t.Context(), "alice"); err != nil {
		t.Fatal(err)
	}
	p := newPKCE()
	b = newBrowser(t, ts)
	at := ts.accessClaims(t, finishAuthorization(t, ts, b.passwordStep(authzQuery(webID, webRedirect, "openid read", p), "alice", "alice-pw"), p).body["access_token"].(string))
	if at.ACR != "pwd" {
		t.Errorf("after reset: acr %q amr %v", at.ACR, at.AuthMethods)
	}
	passwordlessRefused(t, ts, key2, "after reset")
}

// An issuer on an IP address cannot be a relying party: no passkeys
// anywhere, and the pages work as before (no script).
func TestPasskeysOffOnIPIssuer(t *testing.T) {
	ts := newTestServer(t, func(c *testConfig) { c.Passkeys = c.store })
	b := newBrowser(t, ts)
	resp, _ := b.get(ts.issuer + "/connect/authorize?" + authzQuery(webID, webRedirect, "openid read", newPKCE()).Encode())
	resp, page := b.get(ts.URL + resp.Header.Get("Location"))
	if strings.Contains(page, "passkey") || strings.Contains(resp.Header.Get("Content-Security-Policy"), "script-src") {
		t.Fatalf("login page of an IP issuer offers passkeys: %s\n%s", resp.Header.Get("Content-Security-Policy"), page)
	}
}

// loginPage walks authorize → the login page and returns it.
func (b *browser) loginPage(q url.Values) string {
	b.t.Helper()
	resp, _ := b.get(b.ts.issuer + "/connect/authorize?" + q.Encode())
	if resp.StatusCode != http.StatusFound || !strings.Contains(resp.Header.Get("Location"), "/account/login?") {
		b.t.Fatalf("authorize without a session: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, page := b.get(b.ts.URL + resp.Header.Get("Location"))
	if resp.StatusCode != 200 || !strings.Contains(resp.Header.Get("Content-Security-Policy"), "script-src 'self'") {
		b.t.Fatalf("login page: %d %s", resp.StatusCode, resp.Header.Get("Content-Security-Policy"))
	}
	return page
}

func cookieValue(b *browser, ts *testServer, name string) string {
	u, _ := url.Parse(ts.issuer + "/account/")
	for _, c := range b.c.Jar.Cookies(u) {
		if c.Name == name {
			return c.Value
		}
	}
	b.t.Fatalf("no cookie %s", name)
	return ""
}

func setCookie(b *browser, ts *testServer, name, value string) {
	u, _ := url.Parse(ts.issuer + "/account/")
	b.c.Jar.SetCookies(u, []*http.Cookie{{Name: name, Value: value, Path: "/id/account/"}})
}

func testutilCount(t *testing.T, ts *testServer, factor, result string) float64 {
	t.Helper()
	return testutil.ToFloat64(ts.metrics.MFA.WithLabelValues(factor, result))
}

// Failed passwordless assertions count against the client address as
// wrong passwords do: past the limit even a good one waits (429), and
// so does a password from that address.
func TestPasskeyPasswordlessThrottled(t *testing.T) {
	var origin string
	ts := newTestServer(t, func(c *testConfig) {
		c.Issuer = strings.Replace(c.Issuer, "127.0.0.1", "localhost", 1)
		u, _ := url.Parse(c.Issuer)
		origin = u.Scheme + "://" + u.Host
		c.Passkeys = c.store
		c.Limits = Limits{LoginFailuresPerAddress: 3, LoginFailureWindow: 10 * time.Minute}
	})
	key := newSoftKey(t, origin)
	registerPasskey(t, ts, key, "Key")
	stranger := newSoftKey(t, origin) // registered nowhere
	stranger.handle = []byte("nobody")
	for range 3 {
		passwordlessRefused(t, ts, stranger, "unknown credential")
	}
	b := newBrowser(t, ts)
	page := b.loginPage(authzQuery(webID, webRedirect, "openid read", newPKCE()))
	f := formFields(page)
	f.Set("credential", key.get(pageOptions(t, page, "passkey-signin")))
	if resp, _ := b.post(ts.issuer+loginPasskeyPath, f); resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("good passkey after 3 failures from the address: %d", resp.StatusCode)
	}
	f = formFields(page)
	f.Set("login", "alice")
	f.Set("password", "alice-pw")
	if resp, _ := b.post(ts.issuer+"/account/login", f); resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("password after 3 passkey failures from the address: %d", resp.StatusCode)
	}
}

// A passwordless sign-in is two factors: an app with mfa: required and
// a request with acr_values=mfa take it with no further step.
func TestPasskeyPasswordlessSatisfiesMFA(t *testing.T) {
	var origin string
	ts := newTestServer(t, func(c *testConfig) {
		c.Issuer = strings.Replace(c.Issuer, "127.0.0.1", "localhost", 1)
		u, _ := url.Parse(c.Issuer)
		origin = u.Scheme + "://" + u.Host
		c.Passkeys = c.store
	})
	key := newSoftKey(t, origin)
	key.be = true // a synced passkey: swk
	registerPasskey(t, ts, key, "Synced")
	apps := testApps()
	requireMFAApp(apps)
	ts.directory.SetConfig(apps, testUsers())
	if err := ts.directory.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	b := newBrowser(t, ts)
	p := newPKCE()
	page := b.loginPage(authzQuery(webID, webRedirect, "openid read", p, "acr_values", "mfa"))
	f := formFields(page)
	f.Set("credential", key.get(pageOptions(t, page, "passkey-signin")))
	resp, _ := b.post(ts.issuer+loginPasskeyPath, f)
	at := ts.accessClaims(t, finishAuthorization(t, ts, resp, p).body["access_token"].(string))
	if at.ACR != "mfa" || !slices.Equal(at.AuthMethods, []string{"swk", "mfa"}) {
		t.Errorf("passwordless on an mfa app: acr %q amr %v", at.ACR, at.AuthMethods)
	}
}

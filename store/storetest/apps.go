package storetest

import (
	"bytes"
	"errors"
	"fmt"
	"github.com/erpgate/erpgate/directory"
	"slices"
	"testing"
	"time"

	"github.com/erpgate/erpgate/store"
)

// testApp returns a confidential app with every field set, created and
// updated at created.
func testApp(uri string, created time.Time) directory.App {
	return directory.App{
		ID:                     uri,
		Name:                   "App " + uri,
		SecretHash:             []byte{0, 0xff, '\n', 0x80, 'x', 0}, // every byte value survives
		SystemUser:             "svc-" + uri,
		Scopes:                 []string{"read", "update", "openid"},
		RedirectURIs:           []string{"https://app.example/cb?x=1&y=2", "http://127.0.0.1/cb"},
		PostLogoutRedirectURIs: []string{"https://app.example/bye"},
		AllowInternalUsers:     true,
		AllowCommunityUsers:    true,
		ReferenceTokens:        "authenticated_users",
		RequirePKCE:            true,
		ConsentRequired:        true,
		DPoPRequired:           true,
		BackchannelLogoutURI:   "https://logout.example.com/" + uri,
		BackchannelLogoutSID:   true,
		TokenExchange:          true,
		IdentityProviders:      []string{"corp-ad", "entra"}, // in order, not sorted
		NoLocalPasswords:       true,
		MFARequired:            true,
		Enabled:                true,
		CreatedAt:              created,
		UpdatedAt:              created,
	}
}

// checkApp fails t unless got and want agree field by field: slices by
// content (nil and empty alike), times by time.Equal.
func checkApp(t *testing.T, what string, got, want directory.App) {
	t.Helper()
	if got.ID != want.ID || got.Name != want.Name || got.Public != want.Public ||
		!bytes.Equal(got.SecretHash, want.SecretHash) || got.SystemUser != want.SystemUser ||
		!slices.Equal(got.Scopes, want.Scopes) || !slices.Equal(got.RedirectURIs, want.RedirectURIs) ||
		!slices.Equal(got.PostLogoutRedirectURIs, want.PostLogoutRedirectURIs) ||
		got.AllowInternalUsers != want.AllowInternalUsers || got.AllowCommunityUsers != want.AllowCommunityUsers ||
		got.ReferenceTokens != want.ReferenceTokens || got.RequirePKCE != want.RequirePKCE ||
		got.ConsentRequired != want.ConsentRequired || got.DPoPRequired != want.DPoPRequired ||
		got.BackchannelLogoutURI != want.BackchannelLogoutURI || got.BackchannelLogoutSID != want.BackchannelLogoutSID ||
		got.TokenExchange != want.TokenExchange || !slices.Equal(got.IdentityProviders, want.IdentityProviders) ||
		got.NoLocalPasswords != want.NoLocalPasswords || got.MFARequired != want.MFARequired || got.Enabled != want.Enabled ||
		!got.CreatedAt.Equal(want.CreatedAt) || !got.UpdatedAt.Equal(want.UpdatedAt) {
		t.Errorf("%s:\n got %+v\nwant %+v", what, got, want)
	}
}

// checkApps fails t unless got and want hold the same apps in the same
// order.
func checkApps(t *testing.T, what string, got, want []directory.App) {
	t.Helper()
	if !slices.Equal(appURIs(got), appURIs(want)) {
		t.Errorf("%s = %v, want %v", what, appURIs(got), appURIs(want))
		return
	}
	for i := range want {
		checkApp(t, fmt.Sprintf("%s[%s]", what, want[i].ID), got[i], want[i])
	}
}

func appURIs(as []directory.App) []string {
	uris := make([]string, len(as))
	for i, a := range as {
		uris[i] = a.ID
	}
	return uris
}

func mustCreateApp(t *testing.T, r store.Apps, a directory.App) {
	t.Helper()
	if err := r.CreateApp(t.Context(), a); err != nil {
		t.Fatalf("CreateApp(%s): %v", a.ID, err)
	}
}

func mustUpdateApp(t *testing.T, r store.Apps, a directory.App) {
	t.Helper()
	if err := r.UpdateApp(t.Context(), a); err != nil {
		t.Fatalf("UpdateApp(%s): %v", a.ID, err)
	}
}

func mustApp(t *testing.T, r store.Apps, uri string) directory.App {
	t.Helper()
	got, err := r.App(t.Context(), uri)
	if err != nil {
		t.Fatalf("App(%s): %v", uri, err)
	}
	return got
}

func mustApps(t *testing.T, r store.Apps) []directory.App {
	t.Helper()
	got, err := r.Apps(t.Context())
	if err != nil {
		t.Fatalf("Apps: %v", err)
	}
	return got
}

func mustAppsChangedSince(t *testing.T, r store.Apps, since time.Time) []directory.App {
	t.Helper()
	got, err := r.AppsChangedSince(t.Context(), since)
	if err != nil {
		t.Fatalf("AppsChangedSince(%v): %v", since, err)
	}
	return got
}

func checkAppGone(t *testing.T, r store.Apps, uri string) {
	t.Helper()
	if _, err := r.App(t.Context(), uri); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("App(%s): err = %v, want ErrNotFound", uri, err)
	}
}

func testApps(t *testing.T, open opener) {
	// "CreateApp stores a"; "App returns the app with uri". Times in a
	// zone other than UTC, to catch a backend that drops their instant.
	t.Run("CreateAndGet", func(t *testing.T) {
		b := open(t)
		want := testApp("urn:app:billing", at(0).In(cet))
		want.UpdatedAt = at(time.Second).In(cet)
		mustCreateApp(t, b, want)
		checkApp(t, "App", mustApp(t, b, want.ID), want)
	})

	// "SecretHash ... nil for public apps." A public app with no lists
	// and every flag false: all of it comes back empty. Slices round-trip
	// by content, so nil and empty ones both come back with length 0.
	t.Run("RoundTripEmpty", func(t *testing.T) {
		b := open(t)
		public := directory.App{ID: "urn:app:spa", Public: true, ReferenceTokens: "none",
			CreatedAt: at(0), UpdatedAt: at(0)}
		empty := directory.App{ID: "urn:app:empty", SecretHash: []byte{}, Scopes: []string{},
			RedirectURIs: []string{}, PostLogoutRedirectURIs: []string{}, IdentityProviders: []string{},
			CreatedAt: at(0), UpdatedAt: at(0)}
		for _, a := range []directory.App{public, empty} {
			mustCreateApp(t, b, a)
			got := mustApp(t, b, a.ID)
			checkApp(t, "App "+a.ID, got, a)
			if len(got.SecretHash)+len(got.Scopes)+len(got.RedirectURIs)+len(got.PostLogoutRedirectURIs)+len(got.IdentityProviders) != 0 {
				t.Errorf("App %s: empty slices came back with content: %+v", a.ID, got)
			}
		}
		// One empty string is content, not emptiness.
		blank := directory.App{ID: "urn:app:blank", Scopes: []string{""}, CreatedAt: at(0), UpdatedAt: at(0)}
		mustCreateApp(t, b, blank)
		checkApp(t, "App with an empty scope", mustApp(t, b, blank.ID), blank)
	})

	// ConsentRequired (apps[].consent: required) and DPoPRequired
	// (apps[].dpop: required) are kept by create and update alike, both
	// ways, and read back by every list: an app created through the admin
	// API keeps asking for consent and for proofs.
	t.Run("PolicyFlags", func(t *testing.T) {
		b := open(t)
		asks := testApp("urn:app:asks", at(0))
		implicit := testApp("urn:app:implicit", at(time.Second))
		implicit.ConsentRequired, implicit.DPoPRequired = false, false
		mustCreateApp(t, b, asks)
		mustCreateApp(t, b, implicit)
		checkApp(t, "App with consent required", mustApp(t, b, asks.ID), asks)
		checkApp(t, "App with implicit consent", mustApp(t, b, implicit.ID), implicit)
		checkApps(t, "Apps", mustApps(t, b), []directory.App{asks, implicit})

		asks.ConsentRequired, asks.DPoPRequired, asks.UpdatedAt = false, false, at(time.Minute)
		implicit.ConsentRequired, implicit.DPoPRequired, implicit.UpdatedAt = true, true, at(2*time.Minute)
		mustUpdateApp(t, b, asks)
		mustUpdateApp(t, b, implicit)
		checkApps(t, "AppsChangedSince after both switched", mustAppsChangedSince(t, b, at(time.Minute)),
			[]directory.App{asks, implicit})
	})

	// IdentityProviders and NoLocalPasswords (apps[].identity_providers,
	// local_passwords: false) are kept by create and update alike, both
	// ways, and read back by every list: an app created through the
	// admin API keeps its login page's choices, in their order.
	t.Run("SignInChoices", func(t *testing.T) {
		b := open(t)
		federated := testApp("urn:app:federated", at(0))
		local := testApp("urn:app:local", at(time.Second))
		local.IdentityProviders, local.NoLocalPasswords = nil, false
		mustCreateApp(t, b, federated)
		mustCreateApp(t, b, local)
		checkApp(t, "App with providers only", mustApp(t, b, federated.ID), federated)
		checkApp(t, "App with local passwords only", mustApp(t, b, local.ID), local)
		checkApps(t, "Apps", mustApps(t, b), []directory.App{federated, local})

		federated.IdentityProviders, federated.NoLocalPasswords, federated.UpdatedAt = nil, false, at(time.Minute)
		local.IdentityProviders, local.NoLocalPasswords, local.UpdatedAt = []string{"google"}, true, at(2*time.Minute)
		mustUpdateApp(t, b, federated)
		mustUpdateApp(t, b, local)
		checkApps(t, "AppsChangedSince after both switched", mustAppsChangedSince(t, b, at(time.Minute)),
			[]directory.App{federated, local})
	})

	// "App returns the app with uri; ErrNotFound."
	t.Run("NotFound", func(t *testing.T) {
		checkAppGone(t, open(t), "urn:app:nope")
	})

	// "CreateApp stores a; ErrConflict if its URI exists."
	t.Run("CreateConflict", func(t *testing.T) {
		b := open(t)
		first := testApp("urn:app:billing", at(0))
		mustCreateApp(t, b, first)
		second := testApp("urn:app:billing", at(time.Hour))
		second.Name, second.Enabled = "Impostor", false
		if err := b.CreateApp(t.Context(), second); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("CreateApp with an existing ID: err = %v, want ErrConflict", err)
		}
		checkApp(t, "app after conflict", mustApp(t, b, first.ID), first)
		checkApps(t, "Apps after conflict", mustApps(t, b), []directory.App{first})
	})

	// "Apps lists every stored app, oldest CreatedAt first."
	t.Run("ListOldestFirst", func(t *testing.T) {
		b := open(t)
		if got := mustApps(t, b); len(got) != 0 {
			t.Fatalf("Apps on an empty store = %v, want none", appURIs(got))
		}
		want := []directory.App{
			testApp("urn:app:c", at(-time.Hour)),
			testApp("urn:app:a", at(0)),
			testApp("urn:app:b", at(time.Millisecond)),
		}
		// The newest was changed last, the oldest first: the list follows
		// CreatedAt, not UpdatedAt, URI or insertion order.
		want[0].UpdatedAt = at(2 * time.Hour)
		for _, i := range []int{2, 0, 1} {
			mustCreateApp(t, b, want[i])
		}
		checkApps(t, "Apps", mustApps(t, b), want)
	})

	// "UpdateApp replaces the stored app with a.ID (CreatedAt is kept as
	// stored)."
	t.Run("UpdateReplacesAllButCreatedAt", func(t *testing.T) {
		b := open(t)
		orig := testApp("urn:app:billing", at(0))
		other := testApp("urn:app:other", at(time.Second))
		mustCreateApp(t, b, orig)
		mustCreateApp(t, b, other)

		// Every field changes, lists and secret to nothing, flags to
		// false; a CreatedAt passed in is ignored.
		upd := directory.App{ID: orig.ID, Name: "Billing (public now)", Public: true, SystemUser: "",
			ReferenceTokens: "none", CreatedAt: at(time.Hour), UpdatedAt: at(time.Minute).In(cet)}
		mustUpdateApp(t, b, upd)
		want := upd
		want.CreatedAt = orig.CreatedAt
		checkApp(t, "App after UpdateApp", mustApp(t, b, orig.ID), want)
		checkApp(t, "untouched app", mustApp(t, b, other.ID), other)

		// And back: lists and secret again, zero CreatedAt still ignored.
		again := testApp(orig.ID, time.Time{})
		again.Scopes = []string{"read"}
		again.UpdatedAt = at(2 * time.Minute)
		mustUpdateApp(t, b, again)
		want = again
		want.CreatedAt = orig.CreatedAt
		checkApp(t, "App after second UpdateApp", mustApp(t, b, orig.ID), want)
		checkApps(t, "Apps after UpdateApp", mustApps(t, b), []directory.App{want, other})
	})

	// "UpdateApp ...; ErrNotFound if there is none", and creates none.
	t.Run("UpdateNotFound", func(t *testing.T) {
		b := open(t)
		mustCreateApp(t, b, testApp("urn:app:billing", at(0)))
		if err := b.UpdateApp(t.Context(), testApp("urn:app:nope", at(0))); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("UpdateApp(unknown): err = %v, want ErrNotFound", err)
		}
		checkAppGone(t, b, "urn:app:nope")
		if got := mustApps(t, b); len(got) != 1 {
			t.Fatalf("Apps after UpdateApp(unknown) = %v, want only urn:app:billing", appURIs(got))
		}
	})

	// "AppsChangedSince lists apps whose UpdatedAt is at or after since,
	// oldest first, so every process can refresh its app table cheaply."
	// Oldest means oldest change: the poller's next since is the last
	// entry's UpdatedAt.
	t.Run("ChangedSince", func(t *testing.T) {
		b := open(t)
		if got := mustAppsChangedSince(t, b, time.Time{}); len(got) != 0 {
			t.Fatalf("AppsChangedSince on an empty store = %v, want none", appURIs(got))
		}
		all := []directory.App{
			testApp("urn:app:e", at(-time.Hour)), // created first, changed at -1m
			testApp("urn:app:a", at(-time.Minute)),
			testApp("urn:app:d", at(0)),
			testApp("urn:app:b", at(time.Millisecond)),
			testApp("urn:app:c", at(-2*time.Hour)), // created first, changed last
		}
		all[0].UpdatedAt = at(-time.Minute).Add(-time.Millisecond)
		all[4].UpdatedAt = at(time.Minute)
		for _, i := range []int{4, 2, 0, 3, 1} {
			mustCreateApp(t, b, all[i])
		}
		for _, tc := range []struct {
			since time.Time
			want  []directory.App
		}{
			{time.Time{}, all},
			{at(-time.Hour), all},
			{at(-time.Minute), all[1:]}, // at or after: a changed exactly then
			{at(0), all[2:]},
			{at(time.Millisecond), all[3:]},
			{at(2 * time.Millisecond), all[4:]},
			{at(time.Minute), all[4:]},
			{at(time.Minute + time.Millisecond), nil},
		} {
			checkApps(t, fmt.Sprintf("AppsChangedSince(%v)", tc.since), mustAppsChangedSince(t, b, tc.since), tc.want)
		}

		// "UpdatedAt: set by every change; drives AppsChangedSince": an
		// update moves the app to the end of the list.
		upd := all[1]
		upd.Name, upd.UpdatedAt = "renamed", at(time.Hour)
		mustUpdateApp(t, b, upd)
		checkApps(t, "AppsChangedSince after UpdateApp", mustAppsChangedSince(t, b, at(0)),
			[]directory.App{all[2], all[3], all[4], upd})
		checkApps(t, "AppsChangedSince(update time)", mustAppsChangedSince(t, b, at(time.Hour)), []directory.App{upd})
	})

	// A stored app is a value: writing into the slices the caller passed
	// or got back changes nothing stored.
	t.Run("NoSharedSlices", func(t *testing.T) {
		b := open(t)
		a := testApp("urn:app:billing", at(0))
		want := testApp("urn:app:billing", at(0))
		mustCreateApp(t, b, a)
		a.SecretHash[0], a.Scopes[0], a.RedirectURIs[0], a.PostLogoutRedirectURIs[0] = 'X', "X", "X", "X"
		a.IdentityProviders[0] = "X"
		got := mustApp(t, b, a.ID)
		checkApp(t, "App after the caller wrote into its slices", got, want)
		got.SecretHash[0], got.Scopes[0], got.RedirectURIs[0], got.PostLogoutRedirectURIs[0] = 'Y', "Y", "Y", "Y"
		got.IdentityProviders[0] = "Y"
		checkApp(t, "App after the caller wrote into a returned app", mustApp(t, b, a.ID), want)
		listed := mustApps(t, b)
		listed[0].Scopes[0] = "Z"
		checkApp(t, "App after the caller wrote into a listed app", mustApp(t, b, a.ID), want)
	})
}

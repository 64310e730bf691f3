package session_test

import (
	"testing"
	"time"

	"github.com/erpgate/erpgate/store"
	"github.com/erpgate/erpgate/store/memory"
)

// A logout of a sign-in whose tokens never reached the proxy (no session
// opened, no slot) still ends it: End writes a tombstone and reports it
// Here, once, so its apps hear of the logout; ending it again reports
// nothing.
func TestOnEndTombstone(t *testing.T) {
	a := newFixture(t, memory.New(), nil)
	var at endLog
	a.m.OnEnd(at.add)
	if _, err := a.m.End(t.Context(), "sid-never-opened", store.EndLogout); err != nil {
		t.Fatal(err)
	}
	got := at.take()
	if len(got) != 1 || !got[0].Here || got[0].Info.ID != "sid-never-opened" || got[0].Info.EndReason != store.EndLogout {
		t.Fatalf("logout of an unopened session: %+v, want one Here end", got)
	}
	a.clock.Set(a.clock.Now().Add(time.Second))
	if _, err := a.m.End(t.Context(), "sid-never-opened", store.EndLogout); err != nil {
		t.Fatal(err)
	}
	if got := at.take(); len(got) != 0 {
		t.Errorf("second logout reported %+v", got)
	}
}

package adminui

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/erpgate/erpgate/session"
	"github.com/erpgate/erpgate/store"
	"github.com/erpgate/erpgate/webui"
)

// sessionsData is what web/sessions.html reads as .D.
type sessionsData struct {
	frame
	// The filter as typed: user and app match exactly, kind is one of
	// Kinds or "".
	User, App, Kind string
	Kinds           []string
	Sessions        []sessionRow
	// Total is the number of open sessions before filtering.
	Total int
}

// sessionRow is one open session as the pages show it.
type sessionRow struct {
	ID, Subject, ClientID, Kind        string
	Reserved                           bool
	OpenedAt, LastSeenAt, ExpiresAt    time.Time
	OpenedISO, LastSeenISO, ExpiresISO string
}

func rowOf(s session.Info) sessionRow {
	return sessionRow{
		ID: s.ID, Subject: s.Subject, ClientID: s.ClientID, Kind: s.Kind, Reserved: s.Reserved,
		OpenedAt: s.OpenedAt, LastSeenAt: s.LastSeenAt, ExpiresAt: s.ExpiresAt,
		OpenedISO: isoTime(s.OpenedAt), LastSeenISO: isoTime(s.LastSeenAt), ExpiresISO: isoTime(s.ExpiresAt),
	}
}

var sessionKinds = []string{store.SessionUser, store.SessionService, store.SessionReference}

// handleSessions lists the open sessions (SPEC §5), filtered by user,
// app and kind.
func (c *Console) handleSessions(w http.ResponseWriter, r *http.Request, q *req) {
	f := r.URL.Query()
	d := sessionsData{frame: c.frame(q, "/sessions"), Kinds: sessionKinds,
		User: strings.TrimSpace(f.Get("user")), App: strings.TrimSpace(f.Get("app")), Kind: f.Get("kind")}
	list, err := c.cfg.Sessions.List(r.Context())
	if err != nil {
		c.failed(w, r, q, "list sessions", err)
		return
	}
	d.Total = len(list)
	for _, s := range list {
		if (d.User == "" || s.Subject == d.User) && (d.App == "" || s.ClientID == d.App) && (d.Kind == "" || s.Kind == d.Kind) {
			d.Sessions = append(d.Sessions, rowOf(s))
		}
	}
	c.render(w, r, q, http.StatusOK, webui.Page{Name: "sessions.html", Title: webui.Msg("console.sessions.title"), Data: d, Notice: notice(r)})
}

// handleEndSession ends one session, as DELETE /admin/sessions/{id}
// does: its tokens are refused at once, its slot freed.
func (c *Console) handleEndSession(w http.ResponseWriter, r *http.Request, q *req) {
	id := r.PostForm.Get("session")
	_, err := c.cfg.Sessions.End(r.Context(), id, store.EndAdmin)
	switch {
	case errors.Is(err, session.ErrNotFound):
		c.message(w, r, q, http.StatusNotFound, webui.Msg("console.sessions.title"), webui.Msg("console.sessions.gone"))
		return
	case err != nil:
		c.failed(w, r, q, "end a session", err)
		return
	}
	c.auditChange(r, "session.ended", id)
	back := "/sessions"
	if v := filterQuery(r, "user", "app", "kind"); v != "" {
		back += "?" + v
	}
	c.done(w, r, back, "session_ended")
}

// filterQuery carries a list's filter fields from a form back to the
// list.
func filterQuery(r *http.Request, keys ...string) string {
	v := url.Values{}
	for _, k := range keys {
		if s := r.PostForm.Get(k); s != "" {
			v.Set(k, s)
		}
	}
	return v.Encode()
}

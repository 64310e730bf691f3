package admin

import (
	"errors"
	"net/http"
	"time"

	"github.com/erpgate/erpgate/session"
	"github.com/erpgate/erpgate/store"
)

// sessionJSON is one session as the API shows it.
type sessionJSON struct {
	ID         string     `json:"id"`
	Subject    string     `json:"subject"`
	ClientID   string     `json:"client_id"`
	Kind       string     `json:"kind"`
	Reserved   bool       `json:"reserved"`
	OpenedAt   time.Time  `json:"opened_at"`
	LastSeenAt time.Time  `json:"last_seen_at"`
	ExpiresAt  *time.Time `json:"expires_at"` // null: no hard end
	EndedAt    *time.Time `json:"ended_at,omitempty"`
	EndReason  string     `json:"end_reason,omitempty"`
}

func toJSON(i session.Info) sessionJSON {
	s := sessionJSON{
		ID: i.ID, Subject: i.Subject, ClientID: i.ClientID, Kind: i.Kind, Reserved: i.Reserved,
		OpenedAt: i.OpenedAt.UTC(), LastSeenAt: i.LastSeenAt.UTC(), EndReason: i.EndReason,
	}
	if !i.ExpiresAt.IsZero() {
		t := i.ExpiresAt.UTC()
		s.ExpiresAt = &t
	}
	if !i.EndedAt.IsZero() {
		t := i.EndedAt.UTC()
		s.EndedAt = &t
	}
	return s
}

// listSessions: GET /admin/sessions.
func (h *Handler) listSessions(w http.ResponseWriter, r *http.Request) {
	infos, err := h.cfg.Sessions.List(r.Context())
	if err != nil {
		h.storeFailed(w, r, err)
		return
	}
	out := struct {
		Sessions []sessionJSON `json:"sessions"`
	}{Sessions: make([]sessionJSON, 0, len(infos))}
	for _, i := range infos {
		out.Sessions = append(out.Sessions, toJSON(i))
	}
	writeJSON(w, http.StatusOK, out)
}

// endSession: DELETE /admin/sessions/{id}. It answers the session as
// ended; ending an ended session again is not an error.
func (h *Handler) endSession(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	info, err := h.cfg.Sessions.End(r.Context(), id, store.EndAdmin)
	if errors.Is(err, session.ErrNotFound) {
		writeError(w, http.StatusNotFound, "not_found", "no session has this id")
		return
	}
	if err != nil {
		h.storeFailed(w, r, err)
		return
	}
	c := caller(r.Context())
	h.cfg.Logger.InfoContext(r.Context(), "admin ended a session", "session", id,
		"by_subject", c.Principal(), "by_client_id", c.ClientID, "end_reason", info.EndReason)
	h.auditAdmin(r, "session.ended", id) // who ended it; the manager's session.ended says which session
	writeJSON(w, http.StatusOK, toJSON(info))
}

// licenseJSON is GET /admin/license's answer.
type licenseJSON struct {
	Used      int  `json:"used"`
	Total     int  `json:"total"` // 0 with unlimited
	Reserved  int  `json:"reserved"`
	Free      int  `json:"free"` // total - used, reserved seats included; 0 with unlimited
	Unlimited bool `json:"unlimited"`
}

// license: GET /admin/license.
func (h *Handler) license(w http.ResponseWriter, r *http.Request) {
	l, err := h.cfg.Sessions.License(r.Context())
	if err != nil {
		h.storeFailed(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, licenseJSON{Used: l.Used, Total: l.Total, Reserved: l.Reserved, Free: l.Free, Unlimited: l.Unlimited})
}

func (h *Handler) storeFailed(w http.ResponseWriter, r *http.Request, err error) {
	h.cfg.Logger.ErrorContext(r.Context(), "admin: session store failed", "path", r.URL.Path, "err", err)
	w.Header().Set("Retry-After", "1")
	writeError(w, http.StatusServiceUnavailable, "temporarily_unavailable", "the session store could not be reached")
}

package admin

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/erpgate/erpgate/reftoken"
	"github.com/erpgate/erpgate/store"
)

// Tokens issues, lists and revokes reference tokens; *reftoken.Service.
type Tokens interface {
	Issue(ctx context.Context, req reftoken.IssueRequest) (reftoken.Issued, error)
	List(ctx context.Context, subject string) ([]store.ReferenceToken, error)
	Revoke(ctx context.Context, id, actor string) (store.ReferenceToken, error)
	// State is what a call with the token would meet now (reftoken.State*).
	State(t store.ReferenceToken) string
}

var _ Tokens = (*reftoken.Service)(nil)

// tokenJSON is a reference token as the API shows it: never its value
// (except once, at issue) nor its hash.
type tokenJSON struct {
	ID       string `json:"id"`
	Type     string `json:"type"`
	ClientID string `json:"client_id"`
	Subject  string `json:"subject"`
	Scope    string `json:"scope"`
	// Name and Description say what the token is for; "" for none.
	Name        string     `json:"name"`
	Description string     `json:"description"`
	CreatedAt   time.Time  `json:"created_at"`
	CreatedBy   string     `json:"created_by"`
	ExpiresAt   time.Time  `json:"expires_at"`
	LastUsedAt  *time.Time `json:"last_used_at"`
	RevokedAt   *time.Time `json:"revoked_at,omitempty"`
	// State is what a call with the token meets now: active, revoked,
	// expired, app disabled, … (reftoken.State*).
	State string `json:"state"`
	Token string `json:"token,omitempty"` // only in the answer to POST
}

// TokenJSON renders t, in state, for the API.
func TokenJSON(t store.ReferenceToken, state string) tokenJSON {
	out := tokenJSON{
		State: state, ID: t.ID, Type: t.Type, ClientID: t.ClientID, Subject: t.Subject, Scope: strings.Join(t.Scopes, " "),
		Name: t.Name, Description: t.Description, CreatedAt: t.CreatedAt.UTC(), CreatedBy: t.CreatedBy, ExpiresAt: t.ExpiresAt.UTC(),
	}
	if !t.LastUsedAt.IsZero() {
		u := t.LastUsedAt.UTC()
		out.LastUsedAt = &u
	}
	if !t.RevokedAt.IsZero() {
		u := t.RevokedAt.UTC()
		out.RevokedAt = &u
	}
	return out
}

// actor is who the reference-token policy sees: an admin user by login,
// a sec service app as an operator ("").
func actor(r *http.Request) string {
	return caller(r.Context()).Subject
}

func (h *Handler) listTokens(w http.ResponseWriter, r *http.Request) {
	toks, err := h.cfg.Tokens.List(r.Context(), r.URL.Query().Get("subject"))
	if err != nil {
		h.storeFailed(w, r, err)
		return
	}
	out := struct {
		Tokens []tokenJSON `json:"tokens"`
	}{Tokens: make([]tokenJSON, 0, len(toks))}
	for _, t := range toks {
		out.Tokens = append(out.Tokens, TokenJSON(t, h.cfg.Tokens.State(t)))
	}
	writeJSON(w, http.StatusOK, out)
}

func (h *Handler) issueToken(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Type      string `json:"type"`
		App       string `json:"app"`
		User      string `json:"user"`
		Scope     string `json:"scope"`
		ExpiresIn string `json:"expires_in"`
		// Optional, as in the account page's form (which requires a name).
		Name        string `json:"name"`
		Description string `json:"description"`
	}
	if !decodeBody(w, r, &in) {
		return
	}
	d, err := time.ParseDuration(in.ExpiresIn)
	if err != nil {
		writeError(w, http.StatusBadRequest, "invalid_request", "expires_in must be a duration such as 720h")
		return
	}
	issued, err := h.cfg.Tokens.Issue(r.Context(), reftoken.IssueRequest{
		Type: in.Type, ClientID: in.App, Subject: in.User, Scopes: strings.Fields(in.Scope), ExpiresIn: d, Actor: actor(r),
		Name: in.Name, Description: in.Description,
	})
	if h.tokenFailed(w, r, err) {
		return
	}
	out := TokenJSON(issued.Token, h.cfg.Tokens.State(issued.Token))
	out.Token = issued.Value
	writeJSON(w, http.StatusCreated, out)
}

func (h *Handler) revokeToken(w http.ResponseWriter, r *http.Request) {
	t, err := h.cfg.Tokens.Revoke(r.Context(), r.PathValue("id"), actor(r))
	if h.tokenFailed(w, r, err) {
		return
	}
	writeJSON(w, http.StatusOK, TokenJSON(t, h.cfg.Tokens.State(t)))
}

func (h *Handler) tokenFailed(w http.ResponseWriter, r *http.Request, err error) bool {
	switch {
	case err == nil:
		return false
	case errors.Is(err, store.ErrNotFound):
		writeError(w, http.StatusNotFound, "not_found", "no reference token has this id")
	case errors.Is(err, reftoken.ErrNotAllowed):
		writeError(w, http.StatusForbidden, "access_denied", err.Error())
	case errors.Is(err, reftoken.ErrBadRequest):
		writeError(w, http.StatusBadRequest, "invalid_request", err.Error())
	default:
		h.storeFailed(w, r, err)
	}
	return true
}

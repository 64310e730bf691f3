package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/erpgate/erpgate/audit"
	"github.com/erpgate/erpgate/internal/testauth"
)

// fakeUsers records what the API asked and answers err when set.
type fakeUsers struct {
	calls []string
	edit  UserEdit
	in    UserInput
	pw    string
	err   error
}

func (f *fakeUsers) List(context.Context) ([]UserInfo, error) {
	f.calls = append(f.calls, "list")
	return []UserInfo{{Login: "alice", Source: "config"}}, f.err
}
func (f *fakeUsers) Get(_ context.Context, login string) (UserInfo, error) {
	f.calls = append(f.calls, "get "+login)
	return UserInfo{Login: login, Source: "store"}, f.err
}
func (f *fakeUsers) Create(_ context.Context, in UserInput) (UserInfo, error) {
	f.calls, f.in = append(f.calls, "create "+in.Login), in
	return UserInfo{Login: in.Login, Source: "store"}, f.err
}
func (f *fakeUsers) Update(_ context.Context, login string, e UserEdit) (UserInfo, error) {
	f.calls, f.edit = append(f.calls, "update "+login), e
	return UserInfo{Login: login, Source: "store"}, f.err
}
func (f *fakeUsers) SetPassword(_ context.Context, login, pw string) error {
	f.calls, f.pw = append(f.calls, "password "+login), pw
	return f.err
}
func (f *fakeUsers) ResetLink(_ context.Context, login string) (string, time.Time, error) {
	f.calls = append(f.calls, "reset-link "+login)
	return "https://gw.example/id/account/reset?token=secret-token", time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC), f.err
}
func (f *fakeUsers) Delete(_ context.Context, login string) error {
	f.calls = append(f.calls, "delete "+login)
	return f.err
}
func (f *fakeUsers) ResetFactors(_ context.Context, login string) error {
	f.calls = append(f.calls, "reset-factors "+login)
	return f.err
}

func doJSON(h http.Handler, method, path, auth, body string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	req.Header.Set("Authorization", auth)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// TestUsersEndpoints: each /admin/users endpoint reaches its Users
// method with what the request says, and every change is audited as
// admin.change with the caller and the login; the reset link's value is
// answered, never audited.
func TestUsersEndpoints(t *testing.T) {
	a := testauth.New(t, testauth.Config{Slots: 10})
	var auditLog bytes.Buffer
	users := &fakeUsers{}
	h, err := New(Config{
		Authority: a.Authority, Audiences: testauth.Audiences, Sessions: a.Sessions, Users: users,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Audit: audit.New(slog.NewJSONHandler(&auditLog, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	auth := "Bearer " + a.UserToken("admin", testauth.WebApp, "s1", "sec")
	for _, tc := range []struct {
		method, path, body string
		status             int
		call, audited      string
	}{
		{"GET", "/admin/users", "", 200, "list", ""},
		{"GET", "/admin/users/bob", "", 200, "get bob", ""},
		{"POST", "/admin/users", `{"login":"bob","type":"internal","password":"a-long-password"}`, 201, "create bob", "user.created"},
		{"PATCH", "/admin/users/bob", `{"name":"Bob","admin":true}`, 200, "update bob", "user.updated"},
		{"POST", "/admin/users/bob/disable", "", 200, "update bob", "user.disabled"},
		{"POST", "/admin/users/bob/enable", "", 200, "update bob", "user.enabled"},
		{"POST", "/admin/users/bob/password", `{"password":"another-long-one"}`, 204, "password bob", "user.password_set"},
		{"POST", "/admin/users/bob/reset-link", "", 201, "reset-link bob", "user.reset_link_issued"},
		{"DELETE", "/admin/users/bob", "", 204, "delete bob", "user.deleted"},
		{"DELETE", "/admin/users/bob/factors", "", 204, "reset-factors bob", "user.factors_reset"},
	} {
		users.calls = nil
		auditLog.Reset()
		rec := doJSON(h, tc.method, tc.path, auth, tc.body)
		if rec.Code != tc.status || len(users.calls) != 1 || users.calls[0] != tc.call {
			t.Errorf("%s %s = %d %s, calls %v; want %d and %q", tc.method, tc.path, rec.Code, rec.Body, users.calls, tc.status, tc.call)
			continue
		}
		if tc.audited == "" {
			if auditLog.Len() != 0 {
				t.Errorf("%s %s audited a read: %s", tc.method, tc.path, auditLog.String())
			}
			continue
		}
		var ev map[string]any
		if err := json.Unmarshal(auditLog.Bytes(), &ev); err != nil {
			t.Errorf("%s %s: audit line %q: %v", tc.method, tc.path, auditLog.String(), err)
			continue
		}
		if ev["event"] != audit.AdminChange || ev["reason"] != tc.audited || ev["target"] != "bob" || ev["subject"] != "admin" {
			t.Errorf("%s %s audited %v; want %s, reason %s, target bob, by admin", tc.method, tc.path, ev, audit.AdminChange, tc.audited)
		}
		if strings.Contains(auditLog.String(), "secret-token") || strings.Contains(auditLog.String(), "long-") {
			t.Errorf("%s %s: the audit line holds a secret: %s", tc.method, tc.path, auditLog.String())
		}
	}
	if users.in.Password != "a-long-password" || users.pw != "another-long-one" {
		t.Errorf("passwords reached Users as %q and %q", users.in.Password, users.pw)
	}
	if e := users.edit; e.Disabled == nil || *e.Disabled {
		t.Errorf("enable sent %+v, want disabled=false", e)
	}

	// Unknown fields, and each error of Users, answer as the API does.
	if rec := doJSON(h, "POST", "/admin/users", auth, `{"login":"x","password_hash":"$argon2id$..."}`); rec.Code != 400 {
		t.Errorf("a body with password_hash = %d, want 400", rec.Code)
	}
	type answer struct {
		status int
		code   string
	}
	for err, want := range map[error]answer{
		ErrUserNotFound: {404, "not_found"}, ErrUserConflict: {409, "conflict"}, ErrConfigUser: {409, "config_user"},
		&InvalidError{Problems: []string{"user.login: required"}}: {400, "invalid_request"},
	} {
		users.err = err
		rec := doJSON(h, "PATCH", "/admin/users/bob", auth, `{}`)
		var body struct{ Error string }
		_ = json.Unmarshal(rec.Body.Bytes(), &body)
		if (answer{rec.Code, body.Error}) != want {
			t.Errorf("Users error %v: %d %s, want %+v", err, rec.Code, rec.Body, want)
		}
	}
	// A non-administrator cannot reach any of it.
	users.err, users.calls = nil, nil
	if rec := doJSON(h, "GET", "/admin/users", "Bearer "+a.UserToken("alice", testauth.WebApp, "s2", "sec"), ""); rec.Code != 403 || len(users.calls) != 0 {
		t.Errorf("non-admin GET /admin/users = %d, calls %v", rec.Code, users.calls)
	}
}

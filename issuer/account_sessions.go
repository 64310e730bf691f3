package issuer

import (
	"errors"
	"net/http"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/erpgate/erpgate/directory"
	"github.com/erpgate/erpgate/store"
	"github.com/erpgate/erpgate/webui"
)

// accountSessionsPath is the account page's list of the user's live
// sign-ins ("my sessions", SPEC §10).
const accountSessionsPath = "/account/sessions"

// maxUserAgentBytes is how much of a browser's User-Agent a sign-in
// keeps: enough to name the browser and system.
const maxUserAgentBytes = 256

// trimUserAgent is the User-Agent a sign-in records: valid UTF-8, no
// control characters, at most maxUserAgentBytes bytes (cut at a
// character boundary), surrounding spaces trimmed.
func trimUserAgent(ua string) string {
	ua = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return -1
		}
		return r
	}, strings.ToValidUTF8(ua, ""))
	if len(ua) > maxUserAgentBytes {
		cut := maxUserAgentBytes
		for cut > 0 && !utf8.RuneStart(ua[cut]) {
			cut--
		}
		ua = ua[:cut]
	}
	return strings.TrimSpace(ua)
}

// sessionsPage is what web/account_sessions.html reads as .D.
type sessionsPage struct {
	accountFrame
	Sessions []sessionRow
}

// sessionRow is one live sign-in as the page shows it.
type sessionRow struct {
	ID                                string
	Browser                           webui.Text
	Address                           string
	SignedIn, Since, Expires          time.Time
	SignedInISO, SinceISO, ExpiresISO string
	Current                           bool // this browser's
}

// handleSessionsPage lists the user's live sign-ins.
func (s *Server) handleSessionsPage(w http.ResponseWriter, r *http.Request) {
	a, ok := s.accountUser(w, r, accountSessionsPath)
	if !ok {
		return
	}
	s.showSessions(w, r, a, http.StatusOK, webui.Text{}, webui.Text{})
}

func (s *Server) showSessions(w http.ResponseWriter, r *http.Request, a account, status int, errMsg, notice webui.Text) {
	d := sessionsPage{accountFrame: s.accountFrame(w, r, a.user, accountSessionsPath)}
	live, err := s.cfg.IdentitySessions.IdentitySessionsOf(r.Context(), a.user.Login, s.cfg.Clock())
	if err != nil {
		s.cfg.Logger.ErrorContext(r.Context(), "list identity sessions", "err", err)
		if errMsg.IsZero() {
			errMsg, status = webui.Msg("error.try_again_shortly"), http.StatusServiceUnavailable
		}
	}
	for _, sess := range live {
		row := sessionRow{ID: sess.ID, Browser: browserLabel(sess.UserAgent), Address: sess.RemoteAddr,
			SignedIn: sess.AuthTime, SignedInISO: isoTime(sess.AuthTime),
			Since: sess.CreatedAt, SinceISO: isoTime(sess.CreatedAt),
			Expires: sess.ExpiresAt, ExpiresISO: isoTime(sess.ExpiresAt),
			Current: sess.ID == a.sess.ID}
		if row.Current { // this browser first
			d.Sessions = append([]sessionRow{row}, d.Sessions...)
			continue
		}
		d.Sessions = append(d.Sessions, row)
	}
	s.renderAccount(w, r, a.user, status, webui.Page{Name: "account_sessions.html", Title: webui.Msg("account.sessions.title"),
		Data: d, Error: errMsg, Notice: notice})
}

// handleEndOwnSession ends another of the user's live sign-ins as a
// logout would (endsession.go's logout): the identity session, its ERP
// session, and its refresh tokens with the access tokens issued from
// them. Only the user's own sessions, looked up by the signed-in login;
// this browser's own is ended by signing out.
func (s *Server) handleEndOwnSession(w http.ResponseWriter, r *http.Request) {
	a, ok := s.accountUser(w, r, accountSessionsPath)
	if !ok {
		return
	}
	if status, msg := parseAccountForm(w, r); status != 0 {
		s.showSessions(w, r, a, status, msg, webui.Text{})
		return
	}
	id := r.PostForm.Get("session")
	if id == a.sess.ID {
		s.showSessions(w, r, a, http.StatusBadRequest, webui.Msg("account.sessions.error.current"), webui.Text{})
		return
	}
	sess, err := s.cfg.IdentitySessions.IdentitySession(r.Context(), id)
	switch {
	case id == "" || errors.Is(err, store.ErrNotFound) || err == nil && !s.ownLiveSession(sess, a.user):
		// Another user's session is answered like one that never was.
		s.showSessions(w, r, a, http.StatusNotFound, webui.Msg("account.sessions.error.not_yours"), webui.Text{})
		return
	case err != nil:
		s.cfg.Logger.ErrorContext(r.Context(), "read identity session", "err", err)
		s.showSessions(w, r, a, http.StatusServiceUnavailable, webui.Msg("error.try_again_shortly"), webui.Text{})
		return
	}
	if _, ok := s.logout(w, r, id, ""); !ok { // it answered 503; trying again completes it
		return
	}
	s.showSessions(w, r, a, http.StatusOK, webui.Text{}, webui.Msg("account.sessions.ended", s.lang(r, a.user).Say(browserLabel(sess.UserAgent))))
}

// ownLiveSession reports whether sess is a live sign-in of u.
func (s *Server) ownLiveSession(sess store.IdentitySession, u *directory.User) bool {
	return sess.Subject == u.Login && sess.EndedAt.IsZero() && s.cfg.Clock().Before(sess.ExpiresAt)
}

// browserLabel names the browser and system of a User-Agent in a few
// words ("Firefox on Windows"), for a person to recognise their devices;
// what it does not recognise it says as the start of the header, or as
// "unknown browser" when there is none. Checks go from the most
// specific token: Edge and Opera also say Chrome, Chrome also says
// Safari, Android also says Linux, iOS also says Mac OS X.
func browserLabel(ua string) webui.Text {
	if ua == "" {
		return webui.Msg("account.sessions.browser.unknown")
	}
	has := func(tokens ...string) bool {
		for _, t := range tokens {
			if strings.Contains(ua, t) {
				return true
			}
		}
		return false
	}
	browser := ""
	switch {
	case has("Edg/", "EdgA/", "EdgiOS/"):
		browser = "Edge"
	case has("OPR/", "Opera"):
		browser = "Opera"
	case has("SamsungBrowser/"):
		browser = "Samsung Internet"
	case has("Firefox/", "FxiOS/"):
		browser = "Firefox"
	case has("Chrome/", "Chromium/", "CriOS/"):
		browser = "Chrome"
	case has("Safari/") && has("Version/"):
		browser = "Safari"
	}
	system := ""
	switch {
	case has("iPhone", "iPad", "iPod"):
		system = "iOS"
	case has("Android"):
		system = "Android"
	case has("CrOS"):
		system = "ChromeOS"
	case has("Windows"):
		system = "Windows"
	case has("Macintosh", "Mac OS X"):
		system = "macOS"
	case has("Linux", "X11"):
		system = "Linux"
	}
	switch {
	case browser != "" && system != "":
		return webui.Msg("account.sessions.browser.on", browser, system)
	case browser != "":
		return webui.Msg("account.sessions.browser.only", browser)
	}
	short := ua
	if len(short) > 40 {
		cut := 40
		for cut > 0 && !utf8.RuneStart(short[cut]) {
			cut--
		}
		short = short[:cut] + "…"
	}
	return webui.Msg("account.sessions.browser.other", short)
}

package adminui

import (
	"net/http"
	"strings"
	"time"

	"github.com/erpgate/erpgate/webui"
)

// eventsShown is how many of the kept events the page lists.
const eventsShown = 200

// eventsData is what web/events.html reads as .D.
type eventsData struct {
	frame
	Events []eventRow
}

type eventRow struct {
	Time                                                  time.Time
	ISO, Name, Subject, ClientID, Session, Reason, Remote string
	Attrs                                                 string // the event's own fields, key=value
}

// handleEvents lists the latest audit events of this replica, newest
// first (audit.Recent); the audit log is the record of every replica.
func (c *Console) handleEvents(w http.ResponseWriter, r *http.Request, q *req) {
	d := eventsData{frame: c.frame(q, "/events")}
	for _, e := range c.cfg.Recent.Latest(eventsShown) {
		var attrs []string
		for _, a := range e.Attrs {
			attrs = append(attrs, a.Key+"="+a.Value.String())
		}
		d.Events = append(d.Events, eventRow{Time: e.Time, ISO: isoTime(e.Time), Name: e.Name, Subject: e.Subject,
			ClientID: e.ClientID, Session: e.Session, Reason: e.Reason, Remote: e.RemoteAddr, Attrs: strings.Join(attrs, " ")})
	}
	c.render(w, r, q, http.StatusOK, webui.Page{Name: "events.html", Title: webui.Msg("console.events.title"), Data: d})
}

package adminui

import (
	"net/http"

	"github.com/erpgate/erpgate/webui"
)

// licenseData is what web/license.html reads as .D.
type licenseData struct {
	frame
	Used, Total, Reserved, Free int
	Unlimited                   bool
	// Holders are the open sessions holding a reserved seat.
	Holders []sessionRow
}

// handleLicense is the console's home: license use (SPEC §5) and who
// holds the reserved seats.
func (c *Console) handleLicense(w http.ResponseWriter, r *http.Request, q *req) {
	l, err := c.cfg.Sessions.License(r.Context())
	if err != nil {
		c.failed(w, r, q, "license", err)
		return
	}
	list, err := c.cfg.Sessions.List(r.Context())
	if err != nil {
		c.failed(w, r, q, "list sessions", err)
		return
	}
	d := licenseData{frame: c.frame(q, "/"), Used: l.Used, Total: l.Total, Reserved: l.Reserved, Free: l.Free, Unlimited: l.Unlimited}
	for _, s := range list {
		if s.Reserved {
			d.Holders = append(d.Holders, rowOf(s))
		}
	}
	c.render(w, r, q, http.StatusOK, webui.Page{Name: "license.html", Title: webui.Msg("console.license.title"), Data: d})
}

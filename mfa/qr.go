package mfa

import (
	"fmt"
	"strings"

	qrcode "github.com/skip2/go-qrcode"
)

// QRSVG renders text (a KeyURI) as a QR code in SVG markup, for the
// enrolment page to put inline: pages allow no inline script and images
// only from 'self' (webui/csp.go), and an inline <svg> needs neither a
// data: URI nor another request carrying the secret. The markup holds
// only numbers and fixed attributes, never text from the caller, so it
// is safe to insert unescaped. Medium error correction, a 4-module quiet
// zone (ISO/IEC 18004 §6.3.8).
func QRSVG(text, title string) (string, error) {
	q, err := qrcode.New(text, qrcode.Medium)
	if err != nil {
		return "", fmt.Errorf("mfa: QR code: %w", err)
	}
	bits := q.Bitmap() // includes the quiet zone
	n := len(bits)
	var sb strings.Builder
	fmt.Fprintf(&sb, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" width="%d" height="%d" role="img" aria-label="%s" shape-rendering="crispEdges">`,
		n, n, n*5, n*5, escapeAttr(title))
	fmt.Fprintf(&sb, `<rect width="%d" height="%d" fill="#fff"/><path fill="#000" d="`, n, n)
	for y, row := range bits {
		for x := 0; x < len(row); x++ {
			if !row[x] {
				continue
			}
			start := x
			for x < len(row) && row[x] {
				x++
			}
			fmt.Fprintf(&sb, "M%d %dh%dv1h-%dz", start, y, x-start, x-start)
		}
	}
	sb.WriteString(`"/></svg>`)
	return sb.String(), nil
}

// escapeAttr escapes the characters that matter inside a double-quoted
// attribute.
func escapeAttr(s string) string {
	return strings.NewReplacer("&", "&amp;", `"`, "&quot;", "<", "&lt;", ">", "&gt;").Replace(s)
}

package webui

import (
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestKitAt: a kit moved to another assets path links its assets there,
// serves the same ones, and leaves the original as it was.
func TestKitAt(t *testing.T) {
	k, err := New(Config{AssetsPath: "/id/account/static", ExtraCSS: []byte("p{}"), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	moved := k.At("/admin/ui/static")
	for _, name := range []string{"style.css", "brand.css", "copy.js", "custom.css"} {
		v, mv := view{k: k}, view{k: moved}
		if !strings.HasPrefix(v.Asset(name), "/id/account/static/"+name+"?v=") {
			t.Errorf("original %s at %q", name, v.Asset(name))
		}
		if want := "/admin/ui/static" + strings.TrimPrefix(v.Asset(name), "/id/account/static"); mv.Asset(name) != want {
			t.Errorf("moved %s at %q, want %q", name, mv.Asset(name), want)
		}
		rec := httptest.NewRecorder()
		moved.Assets().ServeHTTP(rec, httptest.NewRequest("GET", "/"+name, nil))
		if rec.Code != 200 || rec.Body.Len() == 0 {
			t.Errorf("moved kit serves %s: %d", name, rec.Code)
		}
	}
}

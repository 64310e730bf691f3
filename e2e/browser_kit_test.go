package e2e

import (
	"context"
	"net/url"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// chromeTab drives one Chromium (from newBrowser) for a test: every step has
// its own bound (browserStepTimeout), and a failing step says where the
// browser is and, when g is set, what the gateway logged.
type chromeTab struct {
	t   *testing.T
	ctx context.Context
	g   *Gateway
}

// newChromeTab wraps a browser context; g may be nil.
func newChromeTab(t *testing.T, ctx context.Context, g *Gateway) *chromeTab {
	return &chromeTab{t: t, ctx: ctx, g: g}
}

// fatalf ends the test with the browser's location and the gateway's
// stderr appended.
func (b *chromeTab) fatalf(format string, args ...any) {
	b.t.Helper()
	// The location is read with a bound of its own: the failing step may
	// have used up its context, not the browser's.
	lctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	loc, err := chromedp.Run(lctx, chromedp.Location())
	if err != nil {
		loc = "unknown: " + err.Error()
	}
	args = append(args, loc)
	if b.g != nil {
		b.t.Fatalf(format+" (browser at %s)\ngateway stderr:\n%s", append(args, b.g.Stderr())...)
	}
	b.t.Fatalf(format+" (browser at %s)", args...)
}

// step runs actions within one step's bound.
func (b *chromeTab) step(name string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	sctx, cancel := context.WithTimeout(b.ctx, browserStepTimeout)
	defer cancel()
	if err := chromedp.Do(sctx, actions...); err != nil {
		b.fatalf("%s: %v", name, err)
	}
}

// read runs one action that returns a string, within one step's bound.
func (b *chromeTab) read(name string, a chromedp.Action[string]) string {
	b.t.Helper()
	return readAs(b, name, a)
}

// readAs is read for actions returning any type.
func readAs[T any](b *chromeTab, name string, a chromedp.Action[T]) T {
	b.t.Helper()
	sctx, cancel := context.WithTimeout(b.ctx, browserStepTimeout)
	defer cancel()
	v, err := chromedp.Run(sctx, a)
	if err != nil {
		b.fatalf("%s: %v", name, err)
	}
	return v
}

// location is the URL of the page the browser shows.
func (b *chromeTab) location() *url.URL {
	b.t.Helper()
	loc := b.read("read location", chromedp.Location())
	u, err := url.Parse(loc)
	if err != nil {
		b.fatalf("location %q: %v", loc, err)
	}
	return u
}

// waitForLocation waits, within one step's bound, until the browser's
// location satisfies ok, and returns it.
func (b *chromeTab) waitForLocation(what string, ok func(*url.URL) bool) *url.URL {
	b.t.Helper()
	u, err := b.pollLocation(ok)
	if err != nil {
		b.fatalf("waiting for %s: %v", what, err)
	}
	return u
}

// pollLocation is waitForLocation without failing the test: it returns
// the step's context error when the bound passed first.
func (b *chromeTab) pollLocation(ok func(*url.URL) bool) (*url.URL, error) {
	sctx, cancel := context.WithTimeout(b.ctx, browserStepTimeout)
	defer cancel()
	for {
		loc, err := chromedp.Run(sctx, chromedp.Location())
		if err == nil {
			if u, perr := url.Parse(loc); perr == nil && ok(u) {
				return u, nil
			}
		}
		select {
		case <-sctx.Done():
			return nil, sctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

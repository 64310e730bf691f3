//go:build race

package proxy

// raceEnabled: the race detector is on. Its sync.Pool drops a quarter of
// what is put back, so allocation counts of pooled paths wobble.
const raceEnabled = true

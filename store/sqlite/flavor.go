package sqlite

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/erpgate/erpgate/store/sqlstore"
)

// flavor is how SQLite differs for the shared SQL core: ?N parameters,
// times as INTEGER unix milliseconds in UTC (so they sort and compare as
// numbers), string lists as JSON arrays (so any value round-trips; nil
// and empty are both "[]").
type flavor struct{}

var _ sqlstore.Flavor = flavor{}

func (flavor) Name() string             { return "sqlite" }
func (flavor) Placeholder(n int) string { return "?" + strconv.Itoa(n) }
func (flavor) Time(t time.Time) any     { return t.UnixMilli() }

func (flavor) NullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixMilli()
}

func (flavor) ScanTime(t *time.Time) any { return (*millisTime)(t) }

func (flavor) Strings(list []string) any {
	if len(list) == 0 {
		return "[]"
	}
	b, _ := json.Marshal(list) // a []string always marshals
	return string(b)
}

func (flavor) ScanStrings(list *[]string) any { return (*jsonStrings)(list) }

// millisTime scans unix milliseconds into a time in UTC; NULL is the
// zero time.
type millisTime time.Time

func (m *millisTime) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		*m = millisTime{}
	case int64:
		*m = millisTime(fromMillis(v))
	default:
		return fmt.Errorf("time: want INTEGER unix milliseconds, got %T", src)
	}
	return nil
}

// jsonStrings scans a stored JSON array; empty comes back nil.
type jsonStrings []string

func (j *jsonStrings) Scan(src any) error {
	var b []byte
	switch v := src.(type) {
	case string:
		b = []byte(v)
	case []byte:
		b = v
	default:
		return fmt.Errorf("string list: want TEXT, got %T", src)
	}
	var out []string
	if err := json.Unmarshal(b, &out); err != nil {
		return fmt.Errorf("string list %q: %w", b, err)
	}
	if len(out) == 0 {
		out = nil
	}
	*j = out
	return nil
}

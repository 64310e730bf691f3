package sqlstore

import (
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

// question writes parameters as SQLite does.
type question struct{}

func (question) Name() string                   { return "test" }
func (question) Placeholder(n int) string       { return "?" + strconv.Itoa(n) }
func (question) Time(t time.Time) any           { return t }
func (question) NullTime(t time.Time) any       { return t }
func (question) ScanTime(t *time.Time) any      { return t }
func (question) Strings(list []string) any      { return list }
func (question) ScanStrings(list *[]string) any { return list }

func TestRebind(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"SELECT 1", "SELECT 1"},
		{"WHERE a = $1 AND b = $12", "WHERE a = ?1 AND b = ?12"},
		{"VALUES ($2, $1)", "VALUES (?2, ?1)"},
		{"$", "$"},
	} {
		if got := Rebind(question{}, tc.in); got != tc.want {
			t.Errorf("Rebind(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestQueriesRebound checks that newQueries rebinds every query: a field
// left out of its list would keep $n.
func TestQueriesRebound(t *testing.T) {
	q := reflect.ValueOf(newQueries(question{}))
	for i := range q.NumField() {
		name, text := q.Type().Field(i).Name, q.Field(i).String()
		if text == "" {
			t.Errorf("query %s is empty", name)
		}
		if strings.Contains(text, "$") {
			t.Errorf("query %s was not rebound: %s", name, text)
		}
	}
}

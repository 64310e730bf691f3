package config

import (
	"reflect"
)

// Parse decodes a YAML configuration strictly, expands ${VAR} in scalar
// values using lookup, applies defaults and validates the result. On any
// problem it returns a nil File and a Problems error listing every problem
// found, in document order. It has no side effects: it reads no file and no
// environment except through lookup, which may be nil (no variable is set).
func Parse(data []byte, lookup func(string) (string, bool)) (*File, error) {
	if lookup == nil {
		lookup = func(string) (string, bool) { return "", false }
	}
	c := newCollector()
	doc, err := parseDocument(data)
	if err != nil {
		return nil, Problems{{Message: err.Error()}}
	}
	d := &decoder{
		c:      c,
		lookup: lookup,
		given:  map[string]bool{},
		budget: 10_000 + 100*len(data),
	}
	var f File
	if doc != nil && len(doc.Content) > 0 {
		d.decode(doc.Content[0], reflect.ValueOf(&f).Elem(), "")
	}
	if d.exhausted {
		return nil, c.problems()
	}
	applyDefaults(&f, d.given)
	v := &validator{f: &f, c: c, quiet: d.bad}
	v.validate()
	if len(c.list) > 0 {
		return nil, c.problems()
	}
	return &f, nil
}

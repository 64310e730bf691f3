package config

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strconv"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// This file decodes the yaml.Node tree into a File by hand, instead of
// yaml.Node.Decode with KnownFields, so that every unknown key and type
// error gets its YAML path and all of them are reported together, and so
// that ${VAR} is expanded in scalar values before they are converted.

// maxMergeDepth bounds nested merge keys (<<), which aliases can make
// cyclic.
const maxMergeDepth = 16

var durationType = reflect.TypeFor[Duration]()

// parseDocument reads exactly one YAML document; nil when data holds none
// (an empty file, or only comments).
func parseDocument(data []byte) (*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		return nil, err
	}
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case errors.Is(err, io.EOF):
		return &doc, nil
	case err != nil:
		return nil, err
	default:
		return nil, errors.New("the file holds more than one YAML document (---); expected one")
	}
}

// decoder walks a yaml.Node tree against a Go value.
type decoder struct {
	c      *collector
	lookup func(string) (string, bool)

	// given holds the paths that had a non-null value; defaults apply to
	// the others.
	given map[string]bool
	// bad holds the paths that had a decode problem; validation says
	// nothing more at or under them.
	bad []string

	// budget counts the nodes still allowed to be visited, bounding the
	// work aliases can multiply ("billion laughs").
	budget    int
	exhausted bool

	// aliasAt, while decoding through an alias, is where the alias was
	// used: problems are placed there rather than at the anchor.
	aliasAt *position
	// last is the latest position recorded, in walk order.
	last position
}

func (d *decoder) spend() bool {
	if d.exhausted {
		return false
	}
	if d.budget--; d.budget < 0 {
		d.exhausted = true
		d.c.add("", "the document is too large or expands too many aliases")
		return false
	}
	return true
}

func (d *decoder) at(n *yaml.Node) position {
	if d.aliasAt != nil {
		return *d.aliasAt
	}
	return position{line: n.Line, col: n.Column}
}

// record notes where path is, for ordering problems; the first place wins.
func (d *decoder) record(path string, n *yaml.Node) {
	at := d.at(n)
	d.last = at
	if _, ok := d.c.pos[path]; !ok {
		d.c.pos[path] = at
	}
}

func (d *decoder) problem(n *yaml.Node, path, msg string) {
	d.c.addAt(d.at(n), path, msg)
	d.bad = append(d.bad, path)
}

// decode stores n into v, which must be settable.
func (d *decoder) decode(n *yaml.Node, v reflect.Value, path string) {
	if !d.spend() {
		return
	}
	d.record(path, n)
	if n.Kind == yaml.AliasNode {
		if d.aliasAt == nil {
			at := position{line: n.Line, col: n.Column}
			d.aliasAt = &at
			defer func() { d.aliasAt = nil }()
		}
		if n = n.Alias; n == nil {
			return
		}
	}
	if isNull(n) {
		return // omitted: the zero value, and the default if there is one
	}
	d.given[path] = true
	switch {
	case v.Type() == durationType:
		d.scalar(n, v, path)
	case v.Kind() == reflect.Struct:
		d.mapping(n, v, path)
	case v.Kind() == reflect.Slice:
		d.sequence(n, v, path)
	case v.Kind() == reflect.Pointer:
		p := reflect.New(v.Type().Elem())
		d.decode(n, p.Elem(), path)
		v.Set(p)
	default:
		d.scalar(n, v, path)
	}
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

func (d *decoder) mapping(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		d.problem(n, path, "must be a mapping, got "+kindName(n))
		return
	}
	fields := yamlFields(v.Type())
	for _, kv := range d.pairs(n, path, 0) {
		key := kv.key.Value
		child := joinKey(path, key)
		d.record(child, kv.key)
		i, ok := fields[key]
		if !ok {
			d.problem(kv.key, child, unknownKey(key, fields))
			continue
		}
		d.decode(kv.value, v.Field(i), child)
	}
	d.c.end[path] = d.last
}

func (d *decoder) sequence(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.SequenceNode {
		d.problem(n, path, "must be a list, got "+kindName(n))
		return
	}
	if len(n.Content) == 0 {
		return // nil, as when omitted; given still records it
	}
	s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
	for i, e := range n.Content {
		d.decode(e, s.Index(i), fmt.Sprintf("%s[%d]", path, i))
	}
	v.Set(s)
}

// scalar expands ${VAR} in a scalar and converts it to v's type. Values
// that came from the environment are not repeated in messages: they may be
// secrets.
func (d *decoder) scalar(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.ScalarNode {
		d.problem(n, path, "must be "+wantName(v.Type())+", got "+kindName(n))
		return
	}
	text := n.Value
	if n.ShortTag() == "!!binary" {
		b, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(text), ""))
		if err != nil {
			d.problem(n, path, "!!binary value must be base64")
			return
		}
		text = string(b)
	}
	s, fromEnv, errs := expandEnv(text, d.lookup)
	if len(errs) > 0 {
		for _, e := range errs {
			d.problem(n, path, e)
		}
		return
	}
	if !utf8.ValidString(s) {
		d.problem(n, path, "must be valid UTF-8 text")
		return
	}
	got := ""
	if !fromEnv {
		got = fmt.Sprintf(", got %q", s)
	}
	switch {
	case v.Type() == durationType:
		dur, err := parseDuration(s)
		if err != nil {
			d.problem(n, path, err.Error()+got)
			return
		}
		v.SetInt(int64(dur))
	case v.Kind() == reflect.String:
		v.SetString(s)
	case v.Kind() == reflect.Bool:
		// YAML 1.2 core schema booleans only: "yes" and "on" are refused.
		switch s {
		case "true", "True", "TRUE":
			v.SetBool(true)
		case "false", "False", "FALSE":
			v.SetBool(false)
		default:
			d.problem(n, path, "must be true or false"+got)
		}
	case v.Kind() == reflect.Int:
		i, err := strconv.ParseInt(s, 10, strconv.IntSize)
		if err != nil {
			d.problem(n, path, "must be an integer"+got)
			return
		}
		v.SetInt(i)
	default:
		d.problem(n, path, "cannot decode into "+v.Type().String())
	}
}

type pair struct{ key, value *yaml.Node }

// pairs returns the effective key/value pairs of a mapping: its own keys,
// then those merged in with << that it does not define itself (YAML merge
// key semantics: own keys win, then earlier merged mappings). A key defined
// twice is a problem.
func (d *decoder) pairs(n *yaml.Node, path string, depth int) []pair {
	var own, merged []pair
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if !d.spend() {
			return nil
		}
		k, val := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.AliasNode && k.Alias != nil {
			k = k.Alias
		}
		if k.Kind != yaml.ScalarNode {
			d.problem(k, path, "mapping keys must be strings, got "+kindName(k))
			continue
		}
		if isMerge(k) {
			merged = append(merged, d.mergeSource(val, path, depth)...)
			continue
		}
		if seen[k.Value] {
			d.problem(k, joinKey(path, k.Value), "duplicate key")
			continue
		}
		seen[k.Value] = true
		own = append(own, pair{k, val})
	}
	for _, p := range merged {
		if !seen[p.key.Value] {
			seen[p.key.Value] = true
			own = append(own, p)
		}
	}
	return own
}

// isMerge mirrors yaml.v3: a plain "<<" key, or one tagged !!merge.
func isMerge(k *yaml.Node) bool {
	return k.Value == "<<" && (k.Tag == "" || k.Tag == "!" || k.ShortTag() == "!!merge")
}

func (d *decoder) mergeSource(n *yaml.Node, path string, depth int) []pair {
	const msg = "a merge key (<<) takes a mapping or a list of mappings"
	if depth >= maxMergeDepth {
		d.problem(n, path, "merge keys (<<) nest too deeply")
		return nil
	}
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	switch n.Kind {
	case yaml.MappingNode:
		return d.pairs(n, path, depth+1)
	case yaml.SequenceNode:
		var out []pair
		for _, e := range n.Content {
			if e.Kind == yaml.AliasNode && e.Alias != nil {
				e = e.Alias
			}
			if e.Kind != yaml.MappingNode {
				d.problem(e, path, msg)
				continue
			}
			out = append(out, d.pairs(e, path, depth+1)...)
		}
		return out
	default:
		d.problem(n, path, msg)
		return nil
	}
}

// yamlFields maps a struct's yaml key names to field indexes.
func yamlFields(t reflect.Type) map[string]int {
	m := make(map[string]int, t.NumField())
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if !f.IsExported() || name == "" || name == "-" {
			continue
		}
		m[name] = i
	}
	return m
}

func joinKey(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return "a scalar"
	default:
		return "an alias"
	}
}

func wantName(t reflect.Type) string {
	switch {
	case t == durationType:
		return "a duration such as 20m"
	case t.Kind() == reflect.String:
		return "a string"
	case t.Kind() == reflect.Bool:
		return "true or false"
	case t.Kind() == reflect.Int:
		return "an integer"
	default:
		return "a scalar"
	}
}

// unknownKey is the message for a key the schema does not have, with a
// suggestion when a known key is a likely typo of it.
func unknownKey(key string, fields map[string]int) string {
	best, bestDist := "", 3 // suggest only within edit distance 2
	for name := range fields {
		if dist := editDistance(key, name); dist < bestDist || dist == bestDist && name < best {
			best, bestDist = name, dist
		}
	}
	if best == "" {
		return "unknown key"
	}
	return fmt.Sprintf("unknown key (did you mean %q?)", best)
}

// editDistance is the Levenshtein distance between a and b, in bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// expandEnv replaces each ${NAME} in s, NAME matching
// [A-Za-z_][A-Za-z0-9_]*, by the value lookup gives, and each $${ by a
// literal ${. Any other $ is kept as it is, so argon2id PHC strings
// ($argon2id$v=19$...) pass through. Substituted values are not scanned
// again. It reports whether anything was substituted and, as messages,
// every unset variable and malformed reference.
func expandEnv(s string, lookup func(string) (string, bool)) (out string, substituted bool, errs []string) {
	if !strings.Contains(s, "${") {
		return s, false, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		switch {
		case strings.HasPrefix(s[i:], "$${"):
			b.WriteString("${")
			i += 3
		case strings.HasPrefix(s[i:], "${"):
			end := strings.IndexByte(s[i+2:], '}')
			if end < 0 {
				errs = append(errs, "${ without a closing }: write ${NAME}, or $${ for a literal ${")
				return "", false, errs
			}
			name := s[i+2 : i+2+end]
			i += 2 + end + 1
			if !validEnvName(name) {
				errs = append(errs, "malformed environment reference: write ${NAME} with NAME matching [A-Za-z_][A-Za-z0-9_]*, or $${ for a literal ${")
				continue
			}
			v, ok := lookup(name)
			if !ok {
				errs = append(errs, fmt.Sprintf("environment variable %s is not set", name))
				continue
			}
			b.WriteString(v)
			substituted = true
		default:
			b.WriteByte(s[i])
			i++
		}
	}
	if len(errs) > 0 {
		return "", false, errs
	}
	return b.String(), substituted, nil
}

func validEnvName(name string) bool {
	if name == "" {
		return false
	}
	for i, r := range name {
		switch {
		case r == '_', 'A' <= r && r <= 'Z', 'a' <= r && r <= 'z':
		case i > 0 && '0' <= r && r <= '9':
		default:
			return false
		}
	}
	return true
}

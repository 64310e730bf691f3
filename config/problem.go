package config

import (
	"cmp"
	"slices"
	"strings"
)

// Problem is one thing wrong with (or, from Warnings, worth a second look
// in) a configuration, at a YAML path such as "apps[2].redirect_uris[0]".
// Path is empty for a problem with the document as a whole, such as a YAML
// syntax error.
type Problem struct {
	Path    string
	Message string
}

// String returns "path: message", or the message alone when Path is empty.
func (p Problem) String() string {
	if p.Path == "" {
		return p.Message
	}
	return p.Path + ": " + p.Message
}

// Problems is the error Parse returns: every problem found, in document
// order.
type Problems []Problem

// Error returns one "path: message" line per problem, without a trailing
// newline.
func (p Problems) Error() string {
	lines := make([]string, len(p))
	for i, pr := range p {
		lines[i] = pr.String()
	}
	return strings.Join(lines, "\n")
}

// position is a place in the YAML document; line 0 sorts first. after
// places a problem just after everything at line:col (a key missing from
// a mapping sorts after the mapping's last entry).
type position struct {
	line, col int
	after     bool
}

// located is a Problem with what orders it.
type located struct {
	Problem
	at    position
	known bool // at is set; otherwise found from the path at sort time
	seq   int
}

// collector gathers problems from decoding and validation and sorts them
// into document order using the positions the decoder recorded per path.
type collector struct {
	pos  map[string]position // where each path given in the document starts
	end  map[string]position // where the last entry of each mapping starts
	list []located
	seen map[Problem]bool // aliases and merges can repeat a problem
}

func newCollector() *collector {
	return &collector{pos: map[string]position{}, end: map[string]position{}, seen: map[Problem]bool{}}
}

func (c *collector) add(path, msg string) {
	c.push(located{Problem: Problem{path, msg}})
}

func (c *collector) addAt(at position, path, msg string) {
	c.push(located{Problem: Problem{path, msg}, at: at, known: true})
}

func (c *collector) push(l located) {
	if c.seen[l.Problem] {
		return
	}
	c.seen[l.Problem] = true
	l.seq = len(c.list)
	c.list = append(c.list, l)
}

// locate returns the position of path or, for a path not in the document,
// just after the last entry of its nearest ancestor that is.
func (c *collector) locate(path string) position {
	if p, ok := c.pos[path]; ok {
		return p
	}
	for path != "" {
		path = parentPath(path)
		if p, ok := c.end[path]; ok {
			p.after = true
			return p
		}
		if p, ok := c.pos[path]; ok {
			return p
		}
	}
	return position{}
}

// parentPath strips the last ".key" or "[i]" from a path.
func parentPath(path string) string {
	if strings.HasSuffix(path, "]") {
		if i := strings.LastIndexByte(path, '['); i >= 0 {
			return path[:i]
		}
	}
	if i := strings.LastIndexByte(path, '.'); i >= 0 {
		return path[:i]
	}
	return ""
}

// within reports whether path is p or lies under it.
func within(path, p string) bool {
	if !strings.HasPrefix(path, p) {
		return false
	}
	rest := path[len(p):]
	return rest == "" || rest[0] == '.' || rest[0] == '['
}

func (c *collector) problems() Problems {
	list := slices.Clone(c.list)
	for i := range list {
		if !list[i].known {
			list[i].at = c.locate(list[i].Path)
		}
	}
	slices.SortStableFunc(list, func(a, b located) int {
		return cmp.Or(
			cmp.Compare(a.at.line, b.at.line),
			cmp.Compare(a.at.col, b.at.col),
			compareBool(a.at.after, b.at.after),
			cmp.Compare(a.seq, b.seq),
		)
	})
	out := make(Problems, len(list))
	for i, l := range list {
		out[i] = l.Problem
	}
	return out
}

func compareBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return 1
	default:
		return -1
	}
}

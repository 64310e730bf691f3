package config

import (
	"bytes"
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// fuzzEnv is a deterministic environment: variables whose name starts with
// UNSET are unset, EMPTY is empty, the others hold a value built from
// their name.
func fuzzEnv(name string) (string, bool) {
	switch {
	case strings.HasPrefix(name, "UNSET"):
		return "", false
	case name == "EMPTY":
		return "", true
	case name == "KEY":
		return testKey, true
	case name == "HASH":
		return hashSecret("s3cret"), true
	default:
		return strings.ToLower(name), true
	}
}

// FuzzParse checks that Parse never panics, returns either a File or a
// non-empty Problems, and that a File's normalised form parses back to the
// same File. The seed corpus is testdata/full.yaml plus
// testdata/fuzz/FuzzParse.
func FuzzParse(f *testing.F) {
	if full, err := os.ReadFile("testdata/full.yaml"); err == nil {
		f.Add(full)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := Parse(data, fuzzEnv)
		switch {
		case file == nil && err == nil:
			t.Fatal("Parse returned neither a File nor an error")
		case file != nil && err != nil:
			t.Fatalf("Parse returned a File and an error: %v", err)
		case err != nil:
			var ps Problems
			if !errors.As(err, &ps) || len(ps) == 0 {
				t.Fatalf("error is not a non-empty Problems: %#v", err)
			}
			if err.Error() == "" {
				t.Fatal("empty error text")
			}
			return
		}

		_ = file.Warnings()
		var b bytes.Buffer
		if err := yaml.NewEncoder(&b).Encode(file); err != nil {
			t.Fatalf("marshal: %v", err)
		}
		if bytes.Contains(b.Bytes(), []byte("${")) {
			return // a literal ${ (written $${) would need escaping again
		}
		again, err := Parse(b.Bytes(), nil)
		if err != nil {
			t.Fatalf("normalised config does not parse: %v\n%s", err, b.Bytes())
		}
		if !reflect.DeepEqual(file, again) {
			t.Fatalf("normalised config parses differently:\n%s", b.Bytes())
		}
	})
}

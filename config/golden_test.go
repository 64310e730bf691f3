package config

import (
	"bytes"
	"flag"
	"os"
	"reflect"
	"strconv"
	"testing"

	"go.yaml.in/yaml/v3"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// marshal writes f as the normalised configuration: YAML, 2-space indent.
func marshal(t testing.TB, f *File) string {
	t.Helper()
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(f); err != nil {
		t.Fatal(err)
	}
	if err := enc.Close(); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// TestGoldenNormalised pins the normalised form of testdata/full.yaml: env
// expanded, defaults filled, durations in their shortest form. Run with
// -update to rewrite testdata/full.golden.yaml after a deliberate change.
func TestGoldenNormalised(t *testing.T) {
	const golden = "testdata/full.golden.yaml"
	f := parseFull(t)
	got := marshal(t, f)
	if *update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test ./config -run TestGoldenNormalised -update)", err)
	}
	if got != string(want) {
		t.Errorf("normalised config differs from %s (run with -update if intended):\n%s", golden, lineDiff(string(want), got))
	}

	// The normalised config is itself a valid config meaning the same.
	again, err := Parse([]byte(got), nil)
	if err != nil {
		t.Fatalf("normalised config does not parse:\n%v", err)
	}
	if !reflect.DeepEqual(f, again) {
		t.Errorf("normalised config parses to a different File:\n%s", lineDiff(got, marshal(t, again)))
	}
}

// lineDiff shows the first differing line of two texts with a little
// context; enough to see what changed.
func lineDiff(want, got string) string {
	wl, gl := bytes.Split([]byte(want), []byte("\n")), bytes.Split([]byte(got), []byte("\n"))
	for i := 0; i < max(len(wl), len(gl)); i++ {
		var w, g []byte
		if i < len(wl) {
			w = wl[i]
		}
		if i < len(gl) {
			g = gl[i]
		}
		if !bytes.Equal(w, g) {
			return "line " + strconv.Itoa(i+1) + ":\n- " + string(w) + "\n+ " + string(g)
		}
	}
	return "(no line differs)"
}

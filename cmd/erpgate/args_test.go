package main

import (
	"flag"
	"io"
	"slices"
	"testing"
)

// Session ids are base64url and may start with "-": `sessions end ID`
// must take such an id as the id, not as an unknown flag.
func TestParseInterspersed(t *testing.T) {
	for _, tc := range []struct {
		args    []string
		pos     []string
		config  string
		wantErr bool
	}{
		{args: []string{"abc", "--config", "f.yaml"}, pos: []string{"abc"}, config: "f.yaml"},
		{args: []string{"--config", "f.yaml", "abc"}, pos: []string{"abc"}, config: "f.yaml"},
		{args: []string{"-c3aNxYz", "--config", "f.yaml"}, pos: []string{"-c3aNxYz"}, config: "f.yaml"},
		{args: []string{"--config=f.yaml", "-c3aNxYz"}, pos: []string{"-c3aNxYz"}, config: "f.yaml"},
		{args: []string{"--config", "f.yaml", "--", "-x"}, pos: []string{"-x"}, config: "f.yaml"},
		{args: []string{"--config"}, wantErr: true}, // a flag without its value
	} {
		fs := flag.NewFlagSet("end", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		cfg := fs.String("config", "", "")
		pos, err := parseInterspersed(fs, tc.args, true)
		if (err != nil) != tc.wantErr || err == nil && (!slices.Equal(pos, tc.pos) || *cfg != tc.config) {
			t.Errorf("%q: pos %q config %q err %v; want %q %q err=%v", tc.args, pos, *cfg, err, tc.pos, tc.config, tc.wantErr)
		}
	}
}

package config

import (
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

func TestDurationString(t *testing.T) {
	for _, tt := range []struct {
		d    time.Duration
		want string
	}{
		{0, "0s"},
		{720 * time.Hour, "720h"},
		{time.Hour, "1h"},
		{90 * time.Minute, "90m"},
		{20 * time.Minute, "20m"},
		{60 * time.Second, "1m"},
		{90 * time.Second, "90s"},
		{2 * time.Second, "2s"},
		{1500 * time.Millisecond, "1.5s"},
		{-5 * time.Second, "-5s"},
		{time.Hour + time.Nanosecond, "1h0m0.000000001s"},
	} {
		t.Run(tt.want, func(t *testing.T) {
			got := Duration(tt.d).String()
			if got != tt.want {
				t.Errorf("Duration(%v).String() = %q, want %q", tt.d, got, tt.want)
			}
			back, err := parseDuration(got)
			if err != nil || back.D() != tt.d {
				t.Errorf("parseDuration(%q) = %v, %v; want %v", got, back, err, tt.d)
			}
		})
	}
}

func TestDurationYAML(t *testing.T) {
	var v struct {
		D Duration `yaml:"d"`
	}
	for _, tt := range []struct {
		name    string
		yaml    string
		want    time.Duration
		wantErr bool
	}{
		{name: "minutes", yaml: "d: 20m", want: 20 * time.Minute},
		{name: "hours", yaml: "d: 720h", want: 720 * time.Hour},
		{name: "seconds", yaml: "d: 60s", want: time.Minute},
		{name: "compound", yaml: "d: 1h30m", want: 90 * time.Minute},
		{name: "no unit", yaml: "d: 60", wantErr: true},
		{name: "words", yaml: "d: 20 minutes", wantErr: true},
		{name: "days", yaml: "d: 30d", want: 30 * 24 * time.Hour},
		{name: "days and hours", yaml: "d: 1d12h", want: 36 * time.Hour},
		{name: "not a scalar", yaml: "d: [1s]", wantErr: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			v.D = 0
			err := yaml.Unmarshal([]byte(tt.yaml), &v)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if err == nil && v.D.D() != tt.want {
				t.Errorf("got %v, want %v", v.D.D(), tt.want)
			}
		})
	}

	out, err := yaml.Marshal(struct {
		D Duration `yaml:"d"`
	}{Duration(720 * time.Hour)})
	if err != nil || string(out) != "d: 720h\n" {
		t.Errorf("Marshal = %q, %v", out, err)
	}
}

// TestParseDuration: one parser for the config file and the command
// line, days included; every refusal says what is expected.
func TestParseDuration(t *testing.T) {
	for _, tt := range []struct {
		in      string
		want    time.Duration
		wantErr bool
	}{
		{in: "1d", want: 24 * time.Hour},
		{in: "30d", want: 720 * time.Hour},
		{in: "1d12h", want: 36 * time.Hour},
		{in: "2d30m15s", want: 48*time.Hour + 30*time.Minute + 15*time.Second},
		{in: "0d", want: 0},
		{in: "90m", want: 90 * time.Minute},
		{in: "10m", want: 10 * time.Minute},
		{in: "1h30m", want: 90 * time.Minute},
		{in: "250ms", want: 250 * time.Millisecond},
		{in: "-5s", want: -5 * time.Second},
		{in: "", wantErr: true},
		{in: "d", wantErr: true},
		{in: "30", wantErr: true},
		{in: "1.5d", wantErr: true},
		{in: "-1d", wantErr: true},
		{in: "+1d", wantErr: true},
		{in: "1d-1h", wantErr: true},
		{in: "1d+1h", wantErr: true},
		{in: "1dd", wantErr: true},
		{in: "1d 12h", wantErr: true},
		{in: "1 d", wantErr: true},
		{in: "30 days", wantErr: true},
		{in: "100001d", wantErr: true},
		{in: "100000d2562047h", wantErr: true}, // past time.Duration's range
		{in: "ten minutes", wantErr: true},
	} {
		got, err := ParseDuration(tt.in)
		if (err != nil) != tt.wantErr || err == nil && got != tt.want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v, err %v", tt.in, got, err, tt.want, tt.wantErr)
		}
		if err != nil && err.Error() != "must be a duration such as 20m, 1h, 60s or 30d" {
			t.Errorf("ParseDuration(%q): error %q names no example", tt.in, err)
		}
	}
}

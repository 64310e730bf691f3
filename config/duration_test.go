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
		{name: "days are not a unit", yaml: "d: 30d", wantErr: true},
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

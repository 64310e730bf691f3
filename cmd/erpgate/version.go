package main

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// Release builds may stamp these: -ldflags "-X main.version=v1.2.3
// -X main.commit=… -X main.buildTime=…" (the Dockerfile does, since the
// image is built without .git). Otherwise they come from the build info
// the go command records: the module version, and vcs.revision, vcs.time
// and vcs.modified in a git checkout.
var (
	version   string
	commit    string
	buildTime string
)

// build is what `erpgate version` and erpgate_build_info say about the
// binary.
type build struct {
	Version  string // v1.2.3, a pseudo-version, or "dev"
	Commit   string // the full revision; "" when not recorded
	Time     string // the commit's time (RFC 3339); "" when not recorded
	Modified bool   // built from a tree with uncommitted changes
}

// readBuild combines the ldflags with the build info.
func readBuild() build {
	b := build{Version: version, Commit: commit, Time: buildTime}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		if b.Version == "" {
			b.Version = "dev"
		}
		return b
	}
	if b.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		b.Version = bi.Main.Version // go install …@v1.2.3, or a pseudo-version from VCS
	}
	for _, s := range bi.Settings {
		switch {
		case s.Key == "vcs.revision" && b.Commit == "":
			b.Commit = s.Value
		case s.Key == "vcs.time" && b.Time == "":
			b.Time = s.Value
		case s.Key == "vcs.modified":
			b.Modified = s.Value == "true"
		}
	}
	if b.Version == "" {
		b.Version = "dev"
	}
	return b
}

// buildVersion is the version erpgate_build_info carries.
func buildVersion() string { return readBuild().Version }

// String is the line `erpgate version` prints.
func (b build) String() string {
	s := "erpgate " + b.Version
	switch {
	case b.Commit == "":
		s += " (commit not recorded: built outside a git checkout or with -buildvcs=false"
	default:
		s += " (commit " + b.Commit
		if b.Modified {
			s += ", modified"
		}
		if b.Time != "" {
			s += ", " + b.Time
		}
	}
	return s + ", " + runtime.Version() + ")"
}

func cmdVersion(e env) error {
	_, err := fmt.Fprintln(e.stdout, readBuild())
	return err
}

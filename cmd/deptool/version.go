package main

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/deptool/deptool/deploy/wire"
)

// commit is the commit deptool was built from, when the build says so
// with -ldflags '-X main.commit=...' (the justfile's build does): builds
// made with -buildvcs=false carry no Git information of their own.
var commit string

// versionLine is what 'deptool --version' prints: the release, the commit
// it was built from, the build hash its agents carry in their names on the
// hosts, and the Go that built it.
func versionLine() string {
	commit := commit
	if info, ok := debug.ReadBuildInfo(); ok && commit == "" {
		var rev, dirty string
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				if s.Value == "true" {
					dirty = "+changes"
				}
			}
		}
		if len(rev) >= 12 {
			commit = rev[:12] + dirty
		}
	}
	if commit == "" {
		// Go records the checkout's revision unless told not to
		// (-buildvcs=false, also through GOFLAGS) or built outside one.
		commit = "unknown: built without Git information (-buildvcs=false or outside a checkout; 'just build' records it)"
	}
	build := wire.BuildHash()
	if build == "" {
		build = "unknown"
	}
	return fmt.Sprintf("deptool %s (commit %s, build %s, %s %s/%s)", wire.Version, commit, build, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

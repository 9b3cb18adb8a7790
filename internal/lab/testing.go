package lab

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// RequireEnv names the environment switch that turns a lab that cannot
// start from a skipped test into a failed one. `just test` and CI set it.
const RequireEnv = "DEPTOOL_REQUIRE_LAB"

var shared = struct {
	sync.Mutex
	main  bool
	labs  map[string]*sharedLab
	sweep sync.Once
}{labs: map[string]*sharedLab{}}

type sharedLab struct {
	once sync.Once
	lab  *Lab
	err  error
}

// Main runs the package's tests and then tears down every lab Start booted.
// Call it from TestMain:
//
//	func TestMain(m *testing.M) { lab.Main(m) }
//
// A SIGINT or SIGTERM to the test binary also tears the labs down.
func Main(m *testing.M) {
	shared.Lock()
	shared.main = true
	shared.Unlock()
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		s := <-sigs
		fmt.Fprintf(os.Stderr, "lab: %v: tearing down the test labs\n", s)
		downShared()
		os.Exit(1)
	}()
	code := m.Run()
	signal.Stop(sigs)
	if err := downShared(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

// Start returns a running lab with exactly the named hosts. A name may
// carry the host's release, NAME@RELEASE (see Up); hosts without one boot
// the release in DEPTOOL_LAB_RELEASE, or this machine's own root if it is
// unset. Under Main, the
// lab is booted once per test binary and shared by every test asking for
// the same names (in any order); tests sharing it must leave the hosts as
// they found them, or use StartFresh. Without Main, Start is StartFresh.
//
// If the lab cannot start, the test is skipped with the reason, or fails
// when DEPTOOL_REQUIRE_LAB=1.
func Start(tb testing.TB, names ...string) *Lab {
	tb.Helper()
	shared.Lock()
	if !shared.main {
		shared.Unlock()
		return StartFresh(tb, names...)
	}
	key := strings.Join(slices.Sorted(slices.Values(names)), " ")
	s := shared.labs[key]
	if s == nil {
		s = &sharedLab{}
		shared.labs[key] = s
	}
	shared.Unlock()
	s.once.Do(func() { s.lab, s.err = startForTest(names) })
	if s.err != nil {
		unavailable(tb, s.err)
	}
	return s.lab
}

// StartFresh boots a lab for this test alone, torn down when it ends: for
// tests that change hosts in ways others must not see.
func StartFresh(tb testing.TB, names ...string) *Lab {
	tb.Helper()
	l, err := startForTest(names)
	if err != nil {
		unavailable(tb, err)
	}
	tb.Cleanup(func() {
		if err := l.Down(context.Background()); err != nil {
			tb.Errorf("%v", err)
		}
	})
	return l
}

func startForTest(names []string) (*Lab, error) {
	if err := Preflight(); err != nil {
		return nil, err
	}
	shared.sweep.Do(sweepOrphans)
	release := os.Getenv(ReleaseEnv)
	// Roots are built before the boot timeout starts: a first build takes
	// about a minute per release.
	specs, err := parseSpecs(names, release)
	if err != nil {
		return nil, err
	}
	for _, s := range specs {
		bctx, cancel := context.WithTimeout(context.Background(), rootBuildTimeout)
		_, err := BuildRoot(bctx, s.release, nil)
		cancel()
		if err != nil {
			return nil, err
		}
	}
	owner, err := procOf(os.Getpid())
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(os.TempDir(), "deptool-lab-test-"+newID()+newID())
	ctx, cancel := context.WithTimeout(context.Background(), 2*DefaultBootTimeout)
	defer cancel()
	return Up(ctx, Options{StateDir: dir, owner: &owner, Release: release}, names...)
}

func unavailable(tb testing.TB, err error) {
	tb.Helper()
	if os.Getenv(RequireEnv) == "1" {
		tb.Fatalf("lab required (%s=1) but cannot start: %v", RequireEnv, err)
	}
	first, _, _ := strings.Cut(err.Error(), "\n")
	tb.Skipf("%s (set %s=1 to make this a failure)", first, RequireEnv)
}

func downShared() error {
	shared.Lock()
	defer shared.Unlock()
	var errs []error
	for key, s := range shared.labs {
		if s.lab != nil {
			errs = append(errs, s.lab.Down(context.Background()))
		}
		delete(shared.labs, key)
	}
	return errors.Join(errs...)
}

// sweepOrphans tears down labs that an earlier test binary booted and never
// stopped (it was killed, or panicked on a test timeout). Only labs marked
// as a test's, whose test binary is gone, are touched.
func sweepOrphans() {
	slots, _ := filepath.Glob(filepath.Join(RunDir, "slots", "*"))
	seen := map[string]bool{}
	for _, p := range slots {
		var s slot
		if readJSON(p, &s) != nil || seen[s.State] {
			continue
		}
		seen[s.State] = true
		st, err := readState(s.State)
		if err != nil || st == nil || st.Owner == nil || st.Owner.alive() {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		if err := Down(ctx, s.State); err != nil {
			fmt.Fprintf(os.Stderr, "lab: sweeping orphaned test lab %s: %v\n", s.State, err)
		}
		cancel()
	}
}

package lab

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
)

// DefaultBootTimeout is how long one host may take from nothing to running.
const DefaultBootTimeout = 60 * time.Second

// Options configure Up.
type Options struct {
	// StateDir records the lab; it is created if missing.
	StateDir string
	// BootTimeout per host; DefaultBootTimeout if zero.
	BootTimeout time.Duration
	// Progress, if set, receives one line per host as it comes up (and
	// mmdebstrap's output while a release's root is built).
	Progress io.Writer
	// Release is the Debian release (see Releases) of hosts whose name
	// does not say (NAME@RELEASE); "" boots this machine's own root.
	Release string

	// owner marks a lab booted by Start, so an orphan can be swept.
	owner *proc
	// prepare, if set, runs on each host's root before boot (tests use it
	// to plant faults).
	prepare func(root string) error
}

// Lab is a set of running hosts recorded in a state directory.
type Lab struct {
	dir    string
	signer ssh.Signer

	mu sync.Mutex
	st *labState
	// exited holds, for each nspawn this process started, a channel closed
	// when it has exited (and was reaped).
	exited map[string]chan struct{}
}

var (
	errNotRoot  = errors.New("lab: must run as root: it mounts overlays and creates network namespaces and cgroups (try sudo)")
	errNoNspawn = errors.New("lab: systemd-nspawn not found: run 'just lab-deps' (installs systemd-container, openssh-server, iproute2)")
	nameRE      = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$`)
	geteuid     = os.Geteuid
)

// Preflight checks that this machine can run a lab at all.
func Preflight() error {
	if geteuid() != 0 {
		return errNotRoot
	}
	if _, err := exec.LookPath("systemd-nspawn"); err != nil {
		return errNoNspawn
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return errors.New("lab: 'ip' not found: run 'just lab-deps' (installs iproute2)")
	}
	// The hosts boot the machine's own root, so they have sshd only if the
	// machine has it installed.
	if _, err := os.Stat("/usr/sbin/sshd"); err != nil {
		return errors.New("lab: /usr/sbin/sshd not found: run 'just lab-deps' (installs openssh-server; the hosts boot this machine's root)")
	}
	if _, err := cgroupRoots(); err != nil {
		return fmt.Errorf("lab: %w", err)
	}
	return nil
}

// hostSpec is one host to boot: its name and release.
type hostSpec struct{ name, release string }

// parseSpecs reads host arguments, NAME or NAME@RELEASE, the release
// defaulting to def.
func parseSpecs(args []string, def string) ([]hostSpec, error) {
	var specs []hostSpec
	var names []string
	for _, a := range args {
		name, rel := splitSpec(a)
		if rel == "" && strings.HasSuffix(a, "@") {
			return nil, fmt.Errorf("lab: host %s: no release after '@': use NAME@RELEASE (e.g. %strixie), or NAME for the default", a, a)
		}
		if rel == "" {
			rel = def
		}
		rel, err := canonRelease(rel)
		if err != nil {
			return nil, fmt.Errorf("%w (host %s)", err, name)
		}
		specs = append(specs, hostSpec{name, rel})
		names = append(names, name)
	}
	if err := checkNames(names); err != nil {
		return nil, err
	}
	return specs, nil
}

func checkNames(names []string) error {
	if len(names) == 0 {
		return errors.New("lab: no host names given")
	}
	seen := map[string]bool{}
	for _, n := range names {
		if !nameRE.MatchString(n) {
			return fmt.Errorf("lab: invalid host name %q: use lower-case letters, digits and '-', at most 32 characters, starting and ending with a letter or digit", n)
		}
		if seen[n] {
			return fmt.Errorf("lab: host name %q given twice", n)
		}
		seen[n] = true
	}
	return nil
}

// Up boots the named hosts into the lab recorded in opts.StateDir and
// returns once every host runs with no failed unit. An existing, running lab
// in that directory gains the new hosts. If any host fails, every host this
// call started is torn down again.
//
// A name may carry the host's Debian release, NAME@RELEASE (bullseye,
// bookworm, trixie or 11, 12, 13); without one it is opts.Release. A
// release's root is built on first use (see BuildRoot).
func Up(ctx context.Context, opts Options, args ...string) (*Lab, error) {
	if err := Preflight(); err != nil {
		return nil, err
	}
	specs, err := parseSpecs(args, opts.Release)
	if err != nil {
		return nil, err
	}
	var names []string
	lowers := map[string]string{}
	for _, s := range specs {
		names = append(names, s.name)
		if _, ok := lowers[s.release]; ok || s.release == "" {
			continue
		}
		if lowers[s.release], err = BuildRoot(ctx, s.release, opts.Progress); err != nil {
			return nil, err
		}
	}
	if opts.StateDir == "" {
		return nil, errors.New("lab: no state directory given")
	}
	if opts.BootTimeout <= 0 {
		opts.BootTimeout = DefaultBootTimeout
	}
	created, err := makeDir(opts.StateDir)
	if err != nil {
		return nil, err
	}
	lock, err := flock(filepath.Join(opts.StateDir, lockFile))
	if err != nil {
		return nil, fmt.Errorf("lab: lock %s: %w", opts.StateDir, err)
	}
	defer lock.Close()
	l, err := loadForUp(opts, created, names)
	if err != nil {
		if created {
			for _, f := range []string{clientKeyFile, clientKeyFile + ".pub", lockFile} {
				os.Remove(filepath.Join(opts.StateDir, f))
			}
			os.Remove(opts.StateDir)
		}
		return nil, err
	}
	raiseInotifyLimits()
	if err := ensureUnreachable(ctx); err != nil {
		return nil, err
	}
	if err := l.up(ctx, opts, specs, lowers); err != nil {
		return nil, err
	}
	return l, nil
}

// makeDir creates the state directory, reporting whether it was new.
func makeDir(dir string) (bool, error) {
	err := os.Mkdir(dir, 0o700)
	if errors.Is(err, fs.ErrExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("lab: state directory: %w", err)
	}
	return true, nil
}

// loadForUp opens the lab in the state directory, or starts a new one. A
// lab whose hosts no longer run (a crashed run, a reboot) is refused: its
// leftovers must be removed first.
func loadForUp(opts Options, created bool, names []string) (*Lab, error) {
	st, err := readState(opts.StateDir)
	if err != nil {
		return nil, fmt.Errorf("lab: %w", err)
	}
	if st != nil {
		if err := checkRunning(st, opts.StateDir, names); err != nil {
			return nil, err
		}
	}
	signer, _, err := clientKey(opts.StateDir)
	if err != nil {
		return nil, fmt.Errorf("lab: client key: %w", err)
	}
	if st == nil {
		st = &labState{Version: stateVersion, BootID: bootID(), CreatedDir: created, Owner: opts.owner}
		if st.ID, st.Work, err = reserveID(); err != nil {
			return nil, err
		}
	}
	return &Lab{dir: opts.StateDir, signer: signer, st: st, exited: map[string]chan struct{}{}}, nil
}

// checkRunning accepts an existing lab only if all its hosts still run and
// none has one of the new names.
func checkRunning(st *labState, dir string, names []string) error {
	if why := st.stale(); why != "" {
		return fmt.Errorf("lab: stale state directory %s: %s: run 'deptool-lab down --state %s' to clean it up, then 'up' again", dir, why, dir)
	}
	for _, n := range names {
		if st.host(n) != nil {
			return fmt.Errorf("lab: host name %s is already in use in %s: pick another name, or run 'deptool-lab down --state %s' first", n, dir, dir)
		}
	}
	return nil
}

// reserveID picks a lab ID no other lab on this machine uses. Every name
// the lab creates carries the ID, so reserving its work directory
// (exclusively) reserves them all: teardown can never remove a namespace or
// cgroup that another lab created under the same name.
func reserveID() (id, work string, err error) {
	for range 10 {
		id = newID()
		work = filepath.Join("/dev/shm", "deptool-lab-"+id)
		err = os.Mkdir(work, 0o700)
		if err == nil {
			return id, work, nil
		}
		if !errors.Is(err, fs.ErrExist) {
			break
		}
	}
	return "", "", fmt.Errorf("lab: work directory under /dev/shm: %w", err)
}

func newID() string {
	b := make([]byte, 3)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func (l *Lab) up(ctx context.Context, opts Options, specs []hostSpec, lowers map[string]string) error {
	roots, err := cgroupRoots()
	if err != nil {
		return fmt.Errorf("lab: %w", err)
	}
	clientPub := ssh.MarshalAuthorizedKey(l.signer.PublicKey())
	var hosts []*hostState
	var names []string
	for _, s := range specs {
		hosts = append(hosts, &hostState{Name: s.name, Machine: "lab-" + l.st.ID + "-" + s.name, Release: s.release, Lower: lowers[s.release]})
		names = append(names, s.name)
	}
	if err := l.record(func() { l.st.Hosts = append(l.st.Hosts, hosts...) }); err != nil {
		return fmt.Errorf("lab: %w", err)
	}
	if err := os.MkdirAll(l.st.Work, 0o700); err != nil {
		return l.abort(hosts, fmt.Errorf("lab: %w", err))
	}
	// One by one, so hosts get indexes in the order they were named.
	for _, h := range hosts {
		if err := l.allocate(h); err != nil {
			return l.abort(hosts, err)
		}
	}
	errs := make([]error, len(hosts))
	var wg sync.WaitGroup
	for i, h := range hosts {
		wg.Go(func() {
			start := time.Now()
			hctx, cancel := context.WithTimeout(ctx, opts.BootTimeout)
			defer cancel()
			if err := l.boot(hctx, h, roots, clientPub, opts.prepare); err != nil {
				errs[i] = l.bootError(h, err, opts.BootTimeout)
				return
			}
			if opts.Progress != nil {
				rel := ""
				if h.Release != "" {
					rel = " (" + h.Release + ")"
				}
				fmt.Fprintf(opts.Progress, "lab: %s%s running at %s (%.1fs)\n", h.Name, rel, l.Addr(h.Name), time.Since(start).Seconds())
			}
		})
	}
	wg.Wait()
	if ctx.Err() != nil {
		return l.abort(hosts, fmt.Errorf("lab: interrupted (%v) while booting %s", ctx.Err(), strings.Join(names, " ")))
	}
	if err := errors.Join(errs...); err != nil {
		return l.abort(hosts, err)
	}
	if err := writeSSHFiles(l.dir, l.st); err != nil {
		return l.abort(hosts, fmt.Errorf("lab: ssh_config: %w", err))
	}
	return nil
}

func (l *Lab) bootError(h *hostState, err error, timeout time.Duration) error {
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("lab: host %s: did not boot within %v: %w", h.Name, timeout, err)
	}
	return fmt.Errorf("lab: host %s: boot: %w", h.Name, err)
}

// abort tears down the hosts of a failed up, so a half-started lab is
// never left running; if nothing else is left, the whole lab goes.
func (l *Lab) abort(hosts []*hostState, cause error) error {
	ctx, cancel := context.WithTimeout(context.Background(), 3*stopTimeout)
	defer cancel()
	if err := l.teardown(ctx, hosts); err != nil {
		return fmt.Errorf("%w\nlab: cleaning up after the failure also failed: %v\nrun 'deptool-lab down --state %s'", cause, err, l.dir)
	}
	if len(l.st.Hosts) == 0 {
		if err := l.removeFiles(); err != nil {
			return fmt.Errorf("%w\nlab: %v", cause, err)
		}
	} else if err := writeSSHFiles(l.dir, l.st); err != nil {
		return fmt.Errorf("%w\nlab: %v", cause, err)
	}
	return cause
}

// record applies a change to the state and saves it before the caller goes
// on to create what it describes.
func (l *Lab) record(change func()) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	change()
	return writeState(l.dir, l.st)
}

// Open loads a running lab from its state directory, for exec and tests.
func Open(dir string) (*Lab, error) {
	st, err := readState(dir)
	if err != nil {
		return nil, fmt.Errorf("lab: %w", err)
	}
	if st == nil {
		return nil, fmt.Errorf("lab: no lab in %s: start one with 'deptool-lab up --state %s NAME...'", dir, dir)
	}
	signer, _, err := clientKey(dir)
	if err != nil {
		return nil, fmt.Errorf("lab: client key: %w", err)
	}
	return &Lab{dir: dir, signer: signer, st: st, exited: map[string]chan struct{}{}}, nil
}

// Down removes everything the lab in dir made. A missing directory or an
// already removed lab is fine.
func Down(ctx context.Context, dir string) error {
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	lock, err := flock(filepath.Join(dir, lockFile))
	if err != nil {
		return fmt.Errorf("lab: lock %s: %w", dir, err)
	}
	defer lock.Close()
	st, err := readState(dir)
	if err != nil {
		return fmt.Errorf("lab: %w", err)
	}
	if st == nil {
		return nil
	}
	// Teardown needs no key: a lab whose key file is gone still goes.
	l := &Lab{dir: dir, st: st, exited: map[string]chan struct{}{}}
	return l.down(ctx)
}

// Down stops every host of the lab and removes all it made.
func (l *Lab) Down(ctx context.Context) error {
	if _, err := os.Stat(l.dir); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	lock, err := flock(filepath.Join(l.dir, lockFile))
	if err != nil {
		return fmt.Errorf("lab: lock %s: %w", l.dir, err)
	}
	defer lock.Close()
	// Another process may have added hosts (up) or removed the lab (down)
	// since this one read the state.
	st, err := readState(l.dir)
	if err != nil || st == nil || st.ID != l.st.ID {
		return err
	}
	l.mu.Lock()
	l.st = st
	l.mu.Unlock()
	return l.down(ctx)
}

func (l *Lab) down(ctx context.Context) error {
	if err := l.teardown(ctx, slices.Clone(l.st.Hosts)); err != nil {
		return fmt.Errorf("%w\nlab: the rest is still recorded in %s: run 'deptool-lab down --state %s' again once the cause is fixed", err, l.dir, l.dir)
	}
	return l.removeFiles()
}

// removeFiles deletes what up wrote into the state directory, and the
// directory itself if up created it.
func (l *Lab) removeFiles() error {
	if l.st.Work != "" {
		os.Remove(l.st.Work)
	}
	for _, f := range []string{sshConfigFile, knownHostsFile, clientKeyFile, clientKeyFile + ".pub", stateFile} {
		if err := os.Remove(filepath.Join(l.dir, f)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("lab: %w", err)
		}
	}
	if l.st.CreatedDir {
		os.Remove(filepath.Join(l.dir, lockFile))
		os.Remove(l.dir) // only if empty: never delete what the user put there
	}
	return nil
}

// Names returns the lab's hosts in the order they were started.
func (l *Lab) Names() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var names []string
	for _, h := range l.st.Hosts {
		names = append(names, h.Name)
	}
	return names
}

// Addr returns the host's IPv4 address, or "" for an unknown host.
func (l *Lab) Addr(name string) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	h := l.st.host(name)
	if h == nil || h.Index == 0 {
		return ""
	}
	_, a := addrs(h.Index)
	return a.String()
}

// Release returns the Debian release the host boots, "" for this
// machine's own root (or an unknown host).
func (l *Lab) Release(name string) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if h := l.st.host(name); h != nil {
		return h.Release
	}
	return ""
}

// StateDir returns the directory the lab is recorded in.
func (l *Lab) StateDir() string { return l.dir }

// SSHConfig returns the path of the lab's ssh_config, usable as
// `ssh -F PATH NAME` and as DEPTOOL_SSH_CONFIG.
func (l *Lab) SSHConfig() string {
	p, err := filepath.Abs(filepath.Join(l.dir, sshConfigFile))
	if err != nil {
		return filepath.Join(l.dir, sshConfigFile)
	}
	return p
}

// Exec runs argv on the named host and returns its stdout. A command that
// exits non-zero returns an *ExitError carrying its stderr.
func (l *Lab) Exec(name string, argv ...string) (string, error) {
	c, err := l.connect(context.Background(), name)
	if err != nil {
		return "", err
	}
	defer c.Close()
	return output(context.Background(), c, name, shellQuote(argv))
}

// Run runs argv on the named host with the given streams and returns its
// exit status.
func (l *Lab) Run(ctx context.Context, name string, argv []string, stdin io.Reader, stdout, stderr io.Writer) (int, error) {
	c, err := l.connect(ctx, name)
	if err != nil {
		return -1, err
	}
	defer c.Close()
	code, err := runOn(ctx, c, shellQuote(argv), stdin, stdout, stderr)
	if err != nil {
		return code, fmt.Errorf("lab: host %s: %w", name, err)
	}
	return code, nil
}

func (l *Lab) connect(ctx context.Context, name string) (*ssh.Client, error) {
	if len(name) == 0 {
		return nil, errors.New("lab: no host name given")
	}
	l.mu.Lock()
	h := l.st.host(name)
	l.mu.Unlock()
	if h == nil {
		return nil, fmt.Errorf("lab: no host %s in %s (hosts: %s)", name, l.dir, strings.Join(l.Names(), ", "))
	}
	if !h.Ready {
		return nil, fmt.Errorf("lab: host %s in %s never finished booting: run 'deptool-lab down --state %s' and 'up' again", name, l.dir, l.dir)
	}
	if h.Stopped {
		return nil, fmt.Errorf("lab: host %s is stopped: start it with 'deptool-lab start --state %s %s'", name, l.dir, name)
	}
	if !h.Init.alive() {
		return nil, fmt.Errorf("lab: host %s is no longer running: run 'deptool-lab down --state %s' and 'up' again", name, l.dir)
	}
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	c, err := dial(dctx, h, l.signer)
	if err != nil {
		return nil, fmt.Errorf("lab: host %s: ssh: %w", name, err)
	}
	return c, nil
}

// raiseInotifyLimits lifts the per-user inotify limits that all hosts
// share (they all run as the machine's root): with the default 128
// instances, units start failing with "Too many open files" past about a
// dozen hosts. Limits already higher are left alone.
func raiseInotifyLimits() {
	for f, want := range map[string]int{
		"/proc/sys/fs/inotify/max_user_instances": 8192,
		"/proc/sys/fs/inotify/max_user_watches":   1048576,
	} {
		b, err := os.ReadFile(f)
		var have int
		if err == nil {
			fmt.Sscan(string(b), &have)
		}
		if have < want {
			os.WriteFile(f, []byte(fmt.Sprint(want)), 0)
		}
	}
}

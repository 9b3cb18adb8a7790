package secret

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
	"golang.org/x/term"
)

// endSignals are the signals that would end deptool during an edit; each
// is caught so the plaintext is removed first.
var endSignals = []os.Signal{syscall.SIGHUP, syscall.SIGINT, syscall.SIGTERM, syscall.SIGQUIT}

// leftoverPrefix starts the name of each edit's private directory, which
// goes on with the editing process's pid: how a later run tells the
// directory of a killed edit from that of one still running.
const leftoverPrefix = "deptool-secret-pid"

// SignalError is an edit ended by a signal; the plaintext was removed.
type SignalError struct{ Signal syscall.Signal }

func (e *SignalError) Error() string {
	return fmt.Sprintf("secret edit ended by %s: the plaintext was removed and the secret left as it was", unix.SignalName(e.Signal))
}

// ExitCode is the shell's convention for a process ended by a signal.
func (e *SignalError) ExitCode() int { return 128 + int(e.Signal) }

// runEditor runs the editor until it exits or one of sigs arrives; then
// it kills the editor, so that it saves nothing more, and returns a
// *SignalError.
//
// On a terminal the editor runs in a process group of its own, in the
// terminal's foreground: the Ctrl-C and Ctrl-\ typed into it are its own
// (vi uses them), and a SIGINT or SIGQUIT that reaches deptool came from
// elsewhere, and ends the edit.
func runEditor(cmd *exec.Cmd, sigs <-chan os.Signal) error {
	tty := foregroundTerminal(cmd)
	if tty >= 0 {
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Foreground: true, Ctty: tty}
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("editor: %w; the secret was left as it was", err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case sig := <-sigs:
		if tty >= 0 {
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		} else {
			cmd.Process.Kill()
		}
		<-done
		err = &SignalError{Signal: sig.(syscall.Signal)}
	}
	if tty >= 0 {
		takeTerminal(tty)
	}
	var se *SignalError
	if errors.As(err, &se) {
		return se
	}
	if err != nil {
		return fmt.Errorf("editor: %w; the secret was left as it was", err)
	}
	return nil
}

// foregroundTerminal is the editor's stdin when it is the terminal whose
// foreground deptool holds, else -1.
func foregroundTerminal(cmd *exec.Cmd) int {
	f, ok := cmd.Stdin.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return -1
	}
	fg, err := unix.IoctlGetInt(int(f.Fd()), unix.TIOCGPGRP)
	if err != nil || fg != syscall.Getpgrp() {
		return -1
	}
	return int(f.Fd())
}

// takeTerminal makes deptool's process group the terminal's foreground
// again. Asked from the background, which the kernel answers with SIGTTOU
// unless it is ignored for the moment.
func takeTerminal(tty int) {
	ignored := signal.Ignored(syscall.SIGTTOU)
	signal.Ignore(syscall.SIGTTOU)
	unix.IoctlSetPointerInt(tty, unix.TIOCSPGRP, syscall.Getpgrp())
	if !ignored {
		signal.Reset(syscall.SIGTTOU)
	}
}

// RemoveLeftovers removes the private directories of edits that were
// killed (SIGKILL, a crash) and could not remove their plaintext: those
// of this user whose process is gone. It returns the directories removed.
func (ed Editor) RemoveLeftovers() ([]string, error) {
	root := ed.tempRoot()
	matches, err := filepath.Glob(filepath.Join(root, leftoverPrefix+"*"))
	if err != nil {
		return nil, err
	}
	var removed []string
	var errs []error
	for _, dir := range matches {
		pidPart, _, ok := strings.Cut(strings.TrimPrefix(filepath.Base(dir), leftoverPrefix), "-")
		pid, err := strconv.Atoi(pidPart)
		if !ok || err != nil || pid <= 0 || pid == os.Getpid() {
			continue
		}
		var st unix.Stat_t
		if unix.Lstat(dir, &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFDIR || int(st.Uid) != os.Getuid() {
			continue
		}
		if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
			continue // running, or not ours to ask about: not left over
		}
		if err := os.RemoveAll(dir); err != nil {
			errs = append(errs, err)
			continue
		}
		removed = append(removed, dir)
	}
	return removed, errors.Join(errs...)
}

package transport

import (
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/term"
)

// ReadBecomePassword asks the operator for the become (sudo) password on
// the terminal tty, without echo, for Options.BecomePassword. deptool asks
// once per deploy, before connecting, so the prompt does not fight the
// progress display; the password then goes only to hosts whose sudo asks
// for one, and is kept only in memory. out is where the prompt goes (the
// terminal too, usually).
func ReadBecomePassword(tty *os.File, out io.Writer) ([]byte, error) {
	if tty == nil || !term.IsTerminal(int(tty.Fd())) {
		return nil, errors.New("--ask-become-pass needs a terminal to ask on")
	}
	fmt.Fprint(out, "deptool: become password (sent only to hosts whose sudo asks for one): ")
	pw, err := term.ReadPassword(int(tty.Fd()))
	fmt.Fprintln(out)
	if err != nil {
		return nil, fmt.Errorf("reading the become password: %w", err)
	}
	return pw, nil
}

package transport

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sync"

	"golang.org/x/term"
)

// AskBecomePassword returns an Options.BecomePassword that asks the
// operator on the terminal tty, once, the first time a host's sudo wants
// a password, and gives every host after it the same answer. The typed
// password is not echoed, and is kept only in memory. out is where the
// prompt goes (the terminal too, usually).
//
// The first host to ask is named in the prompt; hosts whose sudo needs no
// password never cause it.
func AskBecomePassword(tty *os.File, out io.Writer) func(host string) ([]byte, error) {
	var once sync.Once
	var pw []byte
	var err error
	return func(host string) ([]byte, error) {
		once.Do(func() { pw, err = askPassword(tty, out, host) })
		return pw, err
	}
}

func askPassword(tty *os.File, out io.Writer, host string) ([]byte, error) {
	if tty == nil || !term.IsTerminal(int(tty.Fd())) {
		return nil, errors.New("--ask-become-pass needs a terminal to ask on")
	}
	fmt.Fprintf(out, "deptool: become password (first asked by %s; sent to every host whose sudo asks): ", host)
	pw, err := term.ReadPassword(int(tty.Fd()))
	fmt.Fprintln(out)
	if err != nil {
		return nil, fmt.Errorf("reading the become password: %w", err)
	}
	return pw, nil
}

package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
)

// errCancelled is a prompt answered with Ctrl-C or Ctrl-D (or "no"):
// nothing was committed and no host was contacted.
var errCancelled = errors.New("cancelled: nothing was changed")

// prompter asks questions on a terminal. An interrupt (Ctrl-C, which ends
// ctx) or the end of input (Ctrl-D) cancels; every other answer goes to
// the caller, which asks again when it does not understand it. Input is
// read a line per question, so that a later question gets its own answer.
type prompter struct {
	ctx   context.Context
	out   io.Writer
	want  chan struct{}
	lines chan line
}

type line struct {
	text string
	err  error
}

var (
	promptMu sync.Mutex
	prompts  = map[io.Reader]*prompter{}
)

// promptOn returns the one prompter reading in.
func promptOn(ctx context.Context, in io.Reader, out io.Writer) *prompter {
	promptMu.Lock()
	defer promptMu.Unlock()
	if p, ok := prompts[in]; ok {
		p.ctx, p.out = ctx, out
		return p
	}
	p := &prompter{ctx: ctx, out: out, want: make(chan struct{}), lines: make(chan line, 1)}
	prompts[in] = p
	go func() {
		r := bufio.NewReader(in)
		for range p.want {
			text, err := r.ReadString('\n')
			if err != nil && text != "" {
				err = nil // a last line without its newline still counts
			}
			p.lines <- line{strings.TrimSpace(text), err}
		}
	}()
	return p
}

// ask prints question and returns the answer, trimmed.
func (p *prompter) ask(question string) (string, error) {
	fmt.Fprint(p.out, question)
	p.want <- struct{}{}
	select {
	case <-p.ctx.Done():
		fmt.Fprintln(p.out)
		return "", errCancelled
	case l := <-p.lines:
		if l.err != nil {
			fmt.Fprintln(p.out) // Ctrl-D leaves the cursor after the question
			return "", errCancelled
		}
		return l.text, nil
	}
}

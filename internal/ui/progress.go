package ui

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/deptool/deptool/deploy"
)

// Progress is a live display of a deploy: a deploy.Reporter, closed once
// the deploy returns, before the summary is printed.
type Progress interface {
	deploy.Reporter
	Close()
}

// Terminal describes the terminal a live display draws on.
type Terminal struct {
	Rows, Cols int
	// Now is the display's clock (default time.Now); tests inject one.
	Now func() time.Time
	// Tick, when set, redraws the aggregate line on every tick, so its
	// elapsed time moves while every host is quietly settling. Tests
	// leave it nil and drive the display by events alone.
	Tick <-chan time.Time
}

// redrawEvery bounds how often phase changes redraw: a hundred hosts
// moving through their phases at once would otherwise redraw thousands
// of times a second for no eye to follow.
const redrawEvery = 100 * time.Millisecond

// NewLive returns the display for a terminal: a line per host when they
// all fit below the plan, one aggregate line otherwise.
func NewLive(w io.Writer, hosts []string, t Terminal) Progress {
	if t.Now == nil {
		t.Now = time.Now
	}
	// Two rows stay free: the line the cursor ends on, and the one above
	// it, which keeps the prompt's answer in sight.
	if len(hosts) <= t.Rows-2 {
		p := &perHost{w: w, hosts: hosts, state: map[string]string{}}
		for _, h := range hosts {
			p.state[h] = "waiting"
		}
		p.redraw()
		return p
	}
	a := &aggregate{w: w, total: len(hosts), cols: t.Cols, now: t.Now, start: t.Now(), running: map[string]bool{}, counts: map[deploy.Outcome]int{}, stop: make(chan struct{})}
	a.draw()
	if t.Tick != nil {
		a.ticking.Add(1)
		go a.tick(t.Tick)
	}
	return a
}

// perHost redraws one line per host as hosts move through their phases,
// for fleets that fit on the screen.
type perHost struct {
	mu    sync.Mutex
	w     io.Writer
	hosts []string
	state map[string]string
	drawn bool
}

func (p *perHost) Phase(host string, ph deploy.Phase, detail string) {
	p.set(host, strings.TrimSpace(string(ph)+" "+detail))
}

func (p *perHost) Done(r deploy.HostResult) {
	p.set(r.Host, fmt.Sprintf("%s (%s)", r.Outcome, r.Elapsed.Round(10*time.Millisecond)))
}

func (p *perHost) Close() {}

// Notice prints msg above the host lines and draws them again below it.
func (p *perHost) Notice(msg string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	// "\r" first: the terminal echoed "^C" where the cursor was, and the
	// notice would otherwise start two columns in, after what was left.
	if p.drawn {
		fmt.Fprintf(p.w, "\r\x1b[%dA\x1b[J", len(p.hosts))
	}
	fmt.Fprintln(p.w, msg)
	p.drawn = false
	p.redraw()
}

// Notice prints msg above the status line, into the scrollback.
func (a *aggregate) Notice(msg string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	io.WriteString(a.w, "\r\x1b[2K"+msg+"\n")
	if !a.closed {
		a.draw()
	}
}

func (p *perHost) set(host, text string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.state[host] = text
	p.redraw()
}

func (p *perHost) redraw() {
	var b strings.Builder
	if p.drawn {
		fmt.Fprintf(&b, "\r\x1b[%dA", len(p.hosts))
	}
	width := widthOf(p.hosts)
	for _, h := range p.hosts {
		fmt.Fprintf(&b, "\x1b[2K%-*s  %s\n", width, h, p.state[h])
	}
	io.WriteString(p.w, b.String())
	p.drawn = true
}

// aggregate is one status line redrawn in place ("\r", erase line), and
// above it a line for each host that did not deploy, as it happens.
type aggregate struct {
	mu      sync.Mutex
	w       io.Writer
	total   int
	cols    int
	now     func() time.Time
	start   time.Time
	last    time.Time // of the last redraw
	running map[string]bool
	counts  map[deploy.Outcome]int
	done    int
	closed  bool
	stop    chan struct{}
	ticking sync.WaitGroup
}

func (a *aggregate) Phase(host string, _ deploy.Phase, _ string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return
	}
	a.running[host] = true
	if a.now().Sub(a.last) >= redrawEvery {
		a.draw()
	}
}

func (a *aggregate) Done(r deploy.HostResult) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return
	}
	delete(a.running, r.Host)
	a.counts[r.Outcome]++
	a.done++
	var b strings.Builder
	if r.Outcome != deploy.Deployed && r.Outcome != deploy.Skipped {
		// Above the status line, into the scrollback: a failure is news.
		line := fmt.Sprintf("%s  %s", r.Host, r.Outcome)
		if msg := firstLine(Message(r)); msg != "" {
			line += ": " + msg
		}
		b.WriteString("\r\x1b[2K" + a.fit(line) + "\n")
	}
	io.WriteString(a.w, b.String())
	a.draw()
}

// Close stops the ticker and erases the status line, so the summary
// starts on a clean line.
func (a *aggregate) Close() {
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		return
	}
	a.closed = true
	close(a.stop)
	io.WriteString(a.w, "\r\x1b[2K")
	a.mu.Unlock()
	a.ticking.Wait()
}

func (a *aggregate) tick(c <-chan time.Time) {
	defer a.ticking.Done()
	for {
		select {
		case <-a.stop:
			return
		case <-c:
			a.mu.Lock()
			if !a.closed {
				a.draw()
			}
			a.mu.Unlock()
		}
	}
}

// barWidth is the width of the progress bar, in cells.
const barWidth = 20

// draw rewrites the status line; the caller holds mu.
func (a *aggregate) draw() {
	a.last = a.now()
	filled := 0
	if a.total > 0 {
		filled = a.done * barWidth / a.total
	}
	bar := strings.Repeat("#", filled) + strings.Repeat(".", barWidth-filled)
	failed := a.done - a.counts[deploy.Deployed] - a.counts[deploy.RolledBack] - a.counts[deploy.Skipped]
	line := fmt.Sprintf("[%s] %d/%d  deployed %d  rolled back %d  failed %d", bar, a.done, a.total,
		a.counts[deploy.Deployed], a.counts[deploy.RolledBack], failed)
	if n := a.counts[deploy.Skipped]; n > 0 {
		line += fmt.Sprintf("  skipped %d", n)
	}
	line += fmt.Sprintf("  running %d  %s", len(a.running), a.last.Sub(a.start).Round(100*time.Millisecond))
	io.WriteString(a.w, "\r\x1b[2K"+a.fit(line))
}

// fit cuts a line to the terminal's width: a line that wraps can no
// longer be redrawn in place.
func (a *aggregate) fit(s string) string {
	if a.cols > 1 && len(s) > a.cols-1 {
		return s[:a.cols-2] + "…"
	}
	return s
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// plain prints one line per host when it is done: for logs and CI.
type plain struct {
	mu      sync.Mutex
	w       io.Writer
	width   int
	waiting map[string]bool
}

// NewPlain returns the display for output that is not a terminal.
func NewPlain(w io.Writer, hosts []string) Progress {
	return &plain{w: w, width: widthOf(hosts)}
}

func (p *plain) Close() {}

// Phase prints only what a host is stuck waiting for: a unit job that
// takes long, or another deploy that holds its lock (once, with until
// when). A log should say why a deploy takes minutes, and nothing more
// until the end.
func (p *plain) Phase(host string, ph deploy.Phase, detail string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case ph == deploy.Waiting:
		if p.waiting == nil {
			p.waiting = map[string]bool{}
		}
		if !p.waiting[host] {
			p.waiting[host] = true
			fmt.Fprintf(p.w, "%-*s  waiting %s\n", p.width, host, detail)
		}
	case strings.HasPrefix(detail, "waiting for "):
		fmt.Fprintf(p.w, "%-*s  %s %s\n", p.width, host, ph, detail)
	}
}

func (p *plain) Done(r deploy.HostResult) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.w, "%-*s  %s (%s)\n", p.width, r.Host, r.Outcome, r.Elapsed.Round(10*time.Millisecond))
}

func widthOf(names []string) int {
	w := 0
	for _, n := range names {
		w = max(w, len(n))
	}
	return w
}

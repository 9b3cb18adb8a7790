package ui

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

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
	// Stages are the hosts of each stage of a rollout, in order: the
	// line then says which stage runs. Nil: one stage.
	Stages [][]string
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
		p := &perHost{w: w, hosts: hosts, cols: t.Cols, state: map[string]string{}}
		for _, h := range hosts {
			p.state[h] = "waiting"
		}
		p.redraw()
		return p
	}
	a := &aggregate{w: w, total: len(hosts), cols: t.Cols, now: t.Now, start: t.Now(), running: map[string]bool{}, counts: map[deploy.Outcome]int{}, stop: make(chan struct{}),
		waiting: map[string]bool{}, stageOf: map[string]int{}, shown: map[string]int{}}
	a.upTo = []int{len(hosts)}
	if len(t.Stages) > 0 {
		a.upTo = make([]int, len(t.Stages))
	}
	for i, st := range t.Stages {
		for _, h := range st {
			a.stageOf[h] = i
		}
		a.upTo[i] = len(st)
		if i > 0 {
			a.upTo[i] += a.upTo[i-1]
		}
	}
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
	cols  int
	hosts []string
	state map[string]string
	drawn bool
}

func (p *perHost) Phase(host string, ph deploy.Phase, detail string) {
	p.set(host, strings.TrimSpace(string(ph)+" "+detail))
}

// Done shows the outcome, and the reason on the same line: the line is
// all the operator sees until the summary.
func (p *perHost) Done(r deploy.HostResult) {
	text := string(r.Outcome)
	if r.Outcome != deploy.Deployed {
		if why := Brief(Message(r)); why != "" {
			text += ": " + why
		}
	}
	p.set(r.Host, fmt.Sprintf("%s (%s)", text, r.Elapsed.Round(10*time.Millisecond)))
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
		fmt.Fprintf(&b, "\x1b[2K%s\n", fit(fmt.Sprintf("%-*s  %s", width, h, p.state[h]), p.cols))
	}
	io.WriteString(p.w, b.String())
	p.drawn = true
}

// aggregate is one status line redrawn in place ("\r", erase line), and
// above it a line for each host that did not deploy, as it happens, up
// to sameFailures per reason: the summary groups the rest.
type aggregate struct {
	mu      sync.Mutex
	w       io.Writer
	total   int
	cols    int
	now     func() time.Time
	start   time.Time
	last    time.Time // of the last redraw
	running map[string]bool
	waiting map[string]bool // for a lock another deploy holds
	counts  map[deploy.Outcome]int
	done    int
	// stageOf is each host's stage of the rollout; stage is the latest
	// stage a host of which started; upTo[i] counts the hosts of the
	// stages up to i.
	stageOf map[string]int
	stage   int
	upTo    []int
	newest  string         // the newest failure, in brief
	shown   map[string]int // failure lines printed, by reason
	closed  bool
	stop    chan struct{}
	ticking sync.WaitGroup
}

// sameFailures is how many hosts failing for one reason get a line of
// their own while the deploy runs.
const sameFailures = 3

func (a *aggregate) Phase(host string, ph deploy.Phase, _ string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return
	}
	a.running[host] = true
	if ph == deploy.Waiting {
		a.waiting[host] = true
	} else {
		delete(a.waiting, host)
	}
	if st := a.stageOf[host]; st > a.stage {
		a.stage = st
	}
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
	delete(a.waiting, r.Host)
	a.counts[r.Outcome]++
	a.done++
	var b strings.Builder
	if r.Outcome != deploy.Deployed && r.Outcome != deploy.Skipped {
		why := Brief(Message(r))
		line := fmt.Sprintf("%s  %s", r.Host, r.Outcome)
		if why != "" {
			line += ": " + why
		}
		a.newest = line
		// Above the status line, into the scrollback: a failure is news;
		// the same failure on the hundredth host is not.
		key := string(r.Outcome) + "\x00" + Normalize(why, r.Host)
		a.shown[key]++
		switch n := a.shown[key]; {
		case n <= sameFailures:
			b.WriteString("\r\x1b[2K" + fit(line, a.cols) + "\n")
		case n == sameFailures+1:
			b.WriteString("\r\x1b[2K" + fit(fmt.Sprintf("(more hosts %s for this reason are counted below, and grouped in the summary)", r.Outcome), a.cols) + "\n")
		}
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
	io.WriteString(a.w, "\r\x1b[2K"+a.line())
}

// line is the status line, fitted to the terminal by leaving out what
// matters least rather than cutting off its end: the elapsed time first,
// so a line that moves never looks hung; then the counts, the stage,
// hosts running, queued and waiting; then the newest failure, cut to the
// room left; the bar only when there is room for it still.
func (a *aggregate) line() string {
	type part struct {
		text string
		rank int // lower is kept first
	}
	var parts []part
	add := func(rank int, format string, args ...any) {
		parts = append(parts, part{fmt.Sprintf(format, args...), rank})
	}
	add(0, "%s", a.last.Sub(a.start).Round(100*time.Millisecond))
	filled := 0
	if a.total > 0 {
		filled = a.done * barWidth / a.total
	}
	add(7, "[%s%s]", strings.Repeat("#", filled), strings.Repeat(".", barWidth-filled))
	add(1, "%d/%d", a.done, a.total)
	add(2, "deployed %d", a.counts[deploy.Deployed])
	for _, o := range outcomesSeen(a.counts) {
		if o != deploy.Deployed && a.counts[o] > 0 {
			add(2, "%s %d", o, a.counts[o])
		}
	}
	if len(a.upTo) > 1 {
		add(3, "stage %d/%d", a.stage+1, len(a.upTo))
	}
	running := len(a.running) - len(a.waiting)
	add(4, "running %d", running)
	if q := a.queued(); q > 0 {
		add(4, "queued %d", q)
	}
	if n := len(a.waiting); n > 0 {
		add(4, "waiting %d", n)
	}
	room := a.cols - 1
	if a.cols <= 1 {
		room = 1 << 30
	}
	keep := make([]bool, len(parts))
	used := -2
	take := func(rank int) {
		for i, p := range parts {
			if p.rank == rank && used+2+len(p.text) <= room {
				keep[i], used = true, used+2+len(p.text)
			}
		}
	}
	for rank := 0; rank <= 4; rank++ {
		take(rank)
	}
	// The newest failure takes the room left, cut if need be, before the
	// bar: it says why, the bar only how far.
	newest := ""
	if a.newest != "" && room-used-4 >= 30 {
		newest = fit("| "+a.newest, room-used-2+1)
		used += 2 + utf8.RuneCountInString(newest)
	}
	take(7)
	var out []string
	for i, p := range parts {
		if keep[i] {
			out = append(out, p.text)
		}
	}
	if newest != "" {
		out = append(out, newest)
	}
	return strings.Join(out, "  ")
}

// queued is how many hosts of the stages started so far have not started
// yet: waiting for a free slot of --parallel.
func (a *aggregate) queued() int {
	return max(0, a.upTo[a.stage]-a.done-len(a.running))
}

// outcomesSeen lists the outcomes counted, in deploy.Outcomes' order and
// any other after them, so a new outcome shows without this file knowing
// its name.
func outcomesSeen(counts map[deploy.Outcome]int) []deploy.Outcome {
	out := slices.Clone(deploy.Outcomes)
	var more []deploy.Outcome
	for o := range counts {
		if !slices.Contains(out, o) {
			more = append(more, o)
		}
	}
	slices.Sort(more)
	return append(out, more...)
}

// fit cuts a line to a terminal of cols columns: a line that wraps can no
// longer be redrawn in place. cols <= 1: unknown, no cut.
func fit(s string, cols int) string {
	if cols <= 1 || utf8.RuneCountInString(s) <= cols-1 {
		return s
	}
	r := []rune(s)
	return string(r[:max(0, cols-2)]) + "…"
}

// Brief is a reason on one line: its lines joined, control characters
// escaped, for a line that says what happened as it happens.
func Brief(s string) string {
	var parts []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			parts = append(parts, l)
		}
	}
	return SafeLine(strings.Join(parts, " "))
}

// plain prints one line per host when it is done: for logs and CI. Past
// plainHosts hosts a log would hold the fleet once more before the
// summary, so it prints what a reader of the log needs as it happens:
// the hosts that did not deploy (the first few of each reason, as the
// terminal's display does) and a line of counts at each tenth of the
// fleet.
type plain struct {
	mu      sync.Mutex
	w       io.Writer
	width   int
	waiting map[string]bool

	total  int
	brief  bool // past plainHosts hosts
	done   int
	counts map[deploy.Outcome]int
	shown  map[string]int // hosts shown per outcome and reason
}

// plainHosts is the most hosts a log lists one by one as they finish.
const plainHosts = 50

// NewPlain returns the display for output that is not a terminal.
func NewPlain(w io.Writer, hosts []string) Progress {
	return &plain{w: w, width: widthOf(hosts), total: len(hosts), brief: len(hosts) > plainHosts,
		counts: map[deploy.Outcome]int{}, shown: map[string]int{}}
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
			fmt.Fprintf(p.w, "%-*s  waiting %s\n", p.width, host, SafeLine(detail))
		}
	case strings.HasPrefix(detail, "waiting for "):
		fmt.Fprintf(p.w, "%-*s  %s %s\n", p.width, host, ph, SafeLine(detail))
	}
}

func (p *plain) Done(r deploy.HostResult) {
	p.mu.Lock()
	defer p.mu.Unlock()
	text := string(r.Outcome)
	why := ""
	if r.Outcome != deploy.Deployed {
		if why = Brief(Message(r)); why != "" {
			text += ": " + why
		}
	}
	line := fmt.Sprintf("%-*s  %s (%s)", p.width, r.Host, text, r.Elapsed.Round(10*time.Millisecond))
	if !p.brief {
		fmt.Fprintln(p.w, line)
		return
	}
	p.done++
	p.counts[r.Outcome]++
	if r.Outcome != deploy.Deployed && r.Outcome != deploy.Skipped {
		key := string(r.Outcome) + "\x00" + Normalize(why, r.Host)
		p.shown[key]++
		switch n := p.shown[key]; {
		case n <= sameFailures:
			fmt.Fprintln(p.w, line)
		case n == sameFailures+1:
			fmt.Fprintf(p.w, "(more hosts %s for this reason are counted below, and grouped in the summary)\n", r.Outcome)
		}
	}
	if tenth := p.total / 10; tenth > 0 && (p.done%tenth == 0 || p.done == p.total) {
		fmt.Fprintln(p.w, p.countsLine())
	}
}

// countsLine is how far the deploy is: hosts done of all, then each
// outcome so far in the summary's order.
func (p *plain) countsLine() string {
	parts := []string{fmt.Sprintf("%d/%d done:", p.done, p.total)}
	for _, o := range outcomeOrder {
		if n := p.counts[o]; n > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", o, n))
		}
	}
	return strings.Join(parts, " ")
}

func widthOf(names []string) int {
	w := 0
	for _, n := range names {
		w = max(w, len(n))
	}
	return w
}

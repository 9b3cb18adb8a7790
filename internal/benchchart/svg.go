package benchchart

import (
	"bytes"
	"errors"
	"image/color"
	"io"
	"math"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgsvg"
)

// The chart's title and y axis label.
const (
	Title  = "deptool vs Ansible vs the OpenSSH floor"
	YLabel = "wall time, s (median; bars: fastest–slowest)"
)

// Chart size: room for the legend beside the plot, small enough to sit in a
// README without scaling.
var (
	Width  = 18 * vg.Centimeter
	Height = 12 * vg.Centimeter
)

type style struct {
	color color.Color
	dash  []vg.Length
	glyph draw.GlyphDrawer
}

// styles tell the deptool modes apart by dash as well as colour, so the
// chart survives a greyscale print.
var styles = map[string]style{
	Deptool:      {rgb(0x1f77b4), nil, draw.CircleGlyph{}},
	NoConfirm:    {rgb(0x17becf), []vg.Length{vg.Points(6), vg.Points(3)}, draw.TriangleGlyph{}},
	Settle:       {rgb(0x9467bd), []vg.Length{vg.Points(2), vg.Points(2)}, draw.SquareGlyph{}},
	FirstContact: {rgb(0x2ca02c), []vg.Length{vg.Points(8), vg.Points(3), vg.Points(2), vg.Points(3)}, draw.PyramidGlyph{}},
	Ansible:      {rgb(0xd62728), nil, draw.BoxGlyph{}},
	Floor:        {rgb(0x555555), []vg.Length{vg.Points(4), vg.Points(4)}, draw.RingGlyph{}},
}

// others are cycled through for series this package does not know.
var others = []color.Color{rgb(0x8c564b), rgb(0xe377c2), rgb(0xbcbd22), rgb(0xff7f0e)}

func rgb(v uint32) color.Color {
	return color.RGBA{uint8(v >> 16), uint8(v >> 8), uint8(v), 0xff}
}

// WriteSVG draws the median wall time of each series against the host count,
// with the fastest and slowest runs as error bars. Both axes are logarithmic:
// Ansible is tens of times slower than deptool, and host counts double.
func WriteSVG(w io.Writer, s *Summary) error {
	if len(s.Series) == 0 {
		return errors.New("no runs to chart")
	}
	p := plot.New()
	p.Title.Text = Title
	p.X.Label.Text = "hosts, deployed in parallel"
	p.X.Scale = plot.LogScale{}
	p.Y.Scale = plot.LogScale{}
	p.Add(plotter.NewGrid())
	// The legend goes beside the plot rather than in it: with six series
	// it would cover some line wherever it sat inside.
	legend := plot.NewLegend()
	legend.Top, legend.Left = true, true
	for _, f := range []*font.Font{&p.Title.TextStyle.Font, &p.X.Label.TextStyle.Font, &p.Y.Label.TextStyle.Font,
		&p.X.Tick.Label.Font, &p.Y.Tick.Label.Font, &legend.TextStyle.Font} {
		f.Variant = "Sans"
	}

	lo, hi := math.Inf(1), math.Inf(-1)
	for i, name := range s.Series {
		xys, errs := plotter.XYs{}, plotter.YErrors{}
		for _, h := range s.Hosts {
			st, ok := s.Get(name, h)
			if !ok {
				continue
			}
			xys = append(xys, plotter.XY{X: dodge(h, i, len(s.Series)), Y: st.Median})
			errs = append(errs, struct{ Low, High float64 }{st.Median - st.Min, st.Max - st.Median})
			lo, hi = math.Min(lo, st.Min), math.Max(hi, st.Max)
		}
		st := seriesStyle(name, i)
		line, points, err := plotter.NewLinePoints(xys)
		if err != nil {
			return err
		}
		line.Color, line.Dashes, line.Width = st.color, st.dash, vg.Points(1.5)
		if name == Deptool {
			line.Width = vg.Points(2.5)
		}
		points.Color, points.Shape, points.Radius = st.color, st.glyph, vg.Points(3)
		bars, err := plotter.NewYErrorBars(struct {
			plotter.XYs
			plotter.YErrors
		}{xys, errs})
		if err != nil {
			return err
		}
		bars.Color, bars.CapWidth = st.color, vg.Points(6)
		p.Add(bars, line, points)
		legend.Add(Label(name), line, points)
	}

	p.Y.Min, p.Y.Max = niceBelow(lo), niceAbove(hi)
	p.Y.Tick.Marker = logTicks{}
	p.X.Min = float64(s.Hosts[0]) / 1.4
	p.X.Max = float64(s.Hosts[len(s.Hosts)-1]) * 1.4
	var xt plot.ConstantTicks
	for _, h := range s.Hosts {
		xt = append(xt, plot.Tick{Value: float64(h), Label: strconv.Itoa(h)})
	}
	p.X.Tick.Marker = xt

	c := vgsvg.New(Width, Height)
	dc := draw.New(c)
	// Slack beyond the measured width, for viewers that substitute a
	// wider font.
	lw := legend.Rectangle(dc).Size().X * 1.1
	// The y label is drawn here rather than by plot, which centres it at
	// the arithmetic mean of a log axis and so pads the top of the plot.
	ylabel := p.Y.Label.TextStyle
	yh := ylabel.Height(YLabel)
	pc := draw.Crop(dc, yh+p.Y.Label.Padding, -lw-vg.Points(8), 0, 0)
	p.Draw(pc)
	ylabel.Rotation = math.Pi / 2
	data := p.DataCanvas(pc)
	dc.FillText(ylabel, vg.Point{X: dc.Min.X + yh - ylabel.FontExtents().Descent, Y: data.Center().Y}, YLabel)
	lc := draw.Crop(dc, Width-lw, 0, 0, 0)
	lc.Max.Y = p.DataCanvas(pc).Max.Y
	legend.Draw(lc)
	var buf bytes.Buffer
	if _, err := c.WriteTo(&buf); err != nil {
		return err
	}
	// vgsvg names only Liberation Sans, which few viewers have; without a
	// fallback browsers use a serif font. Arial has the same metrics, so the
	// layout still fits.
	out := bytes.ReplaceAll(buf.Bytes(), []byte("font-family:Liberation Sans;"),
		[]byte("font-family:'Liberation Sans',Arial,Helvetica,sans-serif;"))
	_, err := w.Write(out)
	return err
}

func seriesStyle(name string, i int) style {
	if st, ok := styles[name]; ok {
		return st
	}
	return style{others[i%len(others)], []vg.Length{vg.Points(1), vg.Points(2)}, draw.CrossGlyph{}}
}

// dodge shifts each series a little sideways on the log axis so that error
// bars of series with similar times do not hide one another.
func dodge(hosts, i, n int) float64 {
	const step = 0.02 // in log10 units: about 5 %
	return float64(hosts) * math.Pow(10, step*(float64(i)-float64(n-1)/2))
}

// logTicks labels 1, 2 and 5 times each power of ten: plot.LogTicks labels
// only the powers, which leaves a chart spanning 0.2 s to 30 s with three
// labels.
type logTicks struct{}

func (logTicks) Ticks(lo, hi float64) []plot.Tick {
	var ticks []plot.Tick
	for e := math.Floor(math.Log10(lo)); ; e++ {
		decade := math.Pow(10, e)
		if decade > hi*(1+1e-9) {
			break
		}
		for m := 1; m < 10; m++ {
			v := float64(m) * decade
			if v < lo*(1-1e-9) || v > hi*(1+1e-9) {
				continue
			}
			t := plot.Tick{Value: v}
			if m == 1 || m == 2 || m == 5 {
				t.Label = strconv.FormatFloat(v, 'f', max(0, int(-e)), 64)
			}
			ticks = append(ticks, t)
		}
	}
	return ticks
}

// niceBelow and niceAbove round to the 1-2-5 steps that logTicks labels,
// so that both ends of the y axis carry a label.
func niceBelow(v float64) float64 {
	d := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{5, 2, 1} {
		if m*d <= v*(1+1e-9) {
			return m * d
		}
	}
	return d
}

func niceAbove(v float64) float64 {
	d := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*d >= v*(1-1e-9) {
			return m * d
		}
	}
	return 10 * d
}

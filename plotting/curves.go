package plotting

import (
	"fmt"
	"image"
	"image/color"
	"math"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// CurveOptions sets the size and scales of [CurvesWith].
type CurveOptions struct {
	// Width and Height of the picture in pixels (at 96 DPI).
	Width, Height int

	// LogLoss draws the loss panel with a logarithmic y axis. When false it
	// is still chosen automatically if the losses span more than a factor 20.
	LogLoss bool
}

// DefaultCurveOptions returns the options used by [Curves].
func DefaultCurveOptions() CurveOptions {
	return CurveOptions{Width: 900, Height: 640}
}

// seriesColors are used in order for the series of a panel.
var seriesColors = []color.RGBA{
	{R: 31, G: 119, B: 180, A: 255},  // Blue.
	{R: 255, G: 127, B: 14, A: 255},  // Orange.
	{R: 44, G: 160, B: 44, A: 255},   // Green.
	{R: 148, G: 103, B: 189, A: 255}, // Purple.
	{R: 214, G: 39, B: 40, A: 255},   // Red.
	{R: 140, G: 86, B: 75, A: 255},   // Brown.
}

// curveColors fixes the colour of the series of [Curves].
var curveColors = map[string]int{"train": 0, "validation": 1, "Dice": 2, "IoU": 3}

// curveColor returns the colour of a series of [Curves].
func curveColor(name string) color.RGBA {
	return seriesColors[curveColors[name]]
}

// series is one named line of a panel: y over x, NaN values skipped.
type series struct {
	name  string
	color color.RGBA
	x, y  []float64
}

// panel is one plot of a figure: a title, a y label and its series.
type panel struct {
	title, yLabel string
	logY          bool
	unitRange     bool // Fix the y axis to [0,1], as for Dice and IoU.
	legendBottom  bool // Rising curves leave the lower right corner free.
	series        []series
}

// Curves draws the training curves of a run: one panel with the training and
// validation losses over steps, one with validation Dice and IoU. Rows
// without validation contribute only to the training loss.
func Curves(rows []MetricsRow) (image.Image, error) {
	return CurvesWith(rows, DefaultCurveOptions())
}

// SaveCurves draws [Curves] and writes them to pngPath.
func SaveCurves(rows []MetricsRow, pngPath string) error {
	img, err := Curves(rows)
	if err != nil {
		return fmt.Errorf("drawing curves for %q: %w", pngPath, err)
	}
	return SavePNG(pngPath, img)
}

// CurvesWith is [Curves] with explicit options.
func CurvesWith(rows []MetricsRow, opts CurveOptions) (image.Image, error) {
	if len(rows) == 0 {
		return nil, fmt.Errorf("no metrics rows to plot")
	}
	pick := func(name string, f func(r MetricsRow) float64) series {
		s := series{name: name, color: curveColor(name)}
		for _, r := range rows {
			s.x = append(s.x, float64(r.Step))
			s.y = append(s.y, f(r))
		}
		return s
	}
	losses := panel{title: "Loss", yLabel: "loss", logY: opts.LogLoss, series: []series{
		pick("train", func(r MetricsRow) float64 { return r.TrainLoss }),
		pick("validation", func(r MetricsRow) float64 { return r.ValLoss }),
	}}
	if !losses.logY {
		losses.logY = spansDecades(losses.series, 20)
	}
	scores := panel{title: "Validation", yLabel: "score", unitRange: true, legendBottom: true,
		series: []series{
			pick("Dice", func(r MetricsRow) float64 { return r.ValDice }),
			pick("IoU", func(r MetricsRow) float64 { return r.ValIoU }),
		}}
	return renderPanels([]panel{losses, scores}, "step", opts.Width, opts.Height)
}

// spansDecades tells whether all finite values are positive and the largest
// is more than ratio times the smallest.
func spansDecades(ss []series, ratio float64) bool {
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, s := range ss {
		for _, v := range s.y {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				continue
			}
			if v <= 0 {
				return false
			}
			lo, hi = min(lo, v), max(hi, v)
		}
	}
	return hi > lo*ratio
}

// renderPanels draws the panels stacked vertically, sharing the x label, into
// a w x h pixel image.
func renderPanels(panels []panel, xLabel string, w, h int) (image.Image, error) {
	if w <= 0 || h <= 0 {
		return nil, fmt.Errorf("picture size %dx%d: width and height must be positive", w, h)
	}
	const dpi = 96
	canvas := vgimg.NewWith(
		vgimg.UseWH(vg.Length(w)*vg.Inch/dpi, vg.Length(h)*vg.Inch/dpi),
		vgimg.UseDPI(dpi))
	plots := make([][]*plot.Plot, len(panels))
	xLo, xHi := xRange(panels)
	for i, p := range panels {
		pl, err := buildPlot(p, xLabel)
		if err != nil {
			return nil, fmt.Errorf("panel %q: %w", p.title, err)
		}

		// One x range for all panels, so a step is at the same place in each.
		if xLo <= xHi {
			pl.X.Min, pl.X.Max = xLo, xHi
		}
		plots[i] = []*plot.Plot{pl}
	}

	// Align keeps the data areas of all panels the same width, so steps line up.
	tiles := draw.Tiles{Rows: len(panels), Cols: 1, PadX: vg.Millimeter, PadY: 4 * vg.Millimeter,
		PadTop: 2 * vg.Millimeter, PadBottom: 2 * vg.Millimeter,
		PadLeft: 2 * vg.Millimeter, PadRight: 4 * vg.Millimeter}
	canvases := plot.Align(plots, tiles, draw.New(canvas))
	for i := range plots {
		plots[i][0].Draw(canvases[i][0])
	}
	return canvas.Image(), nil
}

// buildPlot turns a panel into a gonum plot with lines (and points, so a
// series of a single value still shows).
func buildPlot(p panel, xLabel string) (*plot.Plot, error) {
	pl := plot.New()
	pl.Title.Text = p.title
	pl.X.Label.Text = xLabel
	pl.Y.Label.Text = p.yLabel
	pl.Legend.Top = !p.legendBottom
	pl.Add(plotter.NewGrid())
	pl.X.Tick.Marker = shortTicks{plot.DefaultTicks{}}
	pl.Y.Tick.Marker = shortTicks{plot.DefaultTicks{}}
	if p.unitRange {
		pl.Y.Min, pl.Y.Max = 0, 1
	}

	// A log axis needs positive values on it; without any, fall back to linear.
	logY := p.logY
	hasData := false
	for _, s := range p.series {
		xys := finitePoints(s, logY)
		if len(xys) == 0 {
			continue
		}
		hasData = true
		line, points, err := plotter.NewLinePoints(xys)
		if err != nil {
			return nil, fmt.Errorf("series %q: %w", s.name, err)
		}
		c := s.color
		line.Color, line.Width = c, vg.Points(1.5)
		points.Color, points.Radius = c, vg.Points(1.5)
		if len(xys) > 200 {
			points.Radius = 0 // Dense series read better as plain lines.
		}
		pl.Add(line, points)
		pl.Legend.Add(s.name, line)
	}
	if logY && hasData {
		setLogAxis(&pl.Y, p.series)
	}
	if !hasData && !p.unitRange {
		pl.Y.Min, pl.Y.Max = 0, 1
	}
	return pl, nil
}

// finitePoints returns the (x,y) points of s with finite y (and positive y
// when positive is set).
func finitePoints(s series, positive bool) plotter.XYs {
	var xys plotter.XYs
	for i, y := range s.y {
		if math.IsNaN(y) || math.IsInf(y, 0) || (positive && y <= 0) {
			continue
		}
		xys = append(xys, plotter.XY{X: s.x[i], Y: y})
	}
	return xys
}

// setLogAxis makes ax logarithmic from the decade below the smallest value
// to the decade above the largest, labelled at every decade.
func setLogAxis(ax *plot.Axis, ss []series) {
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, s := range ss {
		for _, xy := range finitePoints(s, true) {
			lo, hi = min(lo, xy.Y), max(hi, xy.Y)
		}
	}
	first := int(math.Floor(math.Log10(lo)))
	last := max(first+1, int(math.Ceil(math.Log10(hi))))
	ax.Min, ax.Max = math.Pow(10, float64(first)), math.Pow(10, float64(last))
	ax.Scale = plot.LogScale{}
	var ticks plot.ConstantTicks
	for k := first; k <= last; k++ {
		decade := math.Pow(10, float64(k))
		ticks = append(ticks, plot.Tick{Value: decade, Label: strconv.FormatFloat(decade, 'g', -1, 64)})
		for m := 2; m < 10 && k < last; m++ {
			ticks = append(ticks, plot.Tick{Value: decade * float64(m)})
		}
	}
	ax.Tick.Marker = ticks
}

// xRange returns the smallest and largest x of all finite points of the
// panels (lo > hi when there are none).
func xRange(panels []panel) (lo, hi float64) {
	lo, hi = math.Inf(1), math.Inf(-1)
	for _, p := range panels {
		for _, s := range p.series {
			for _, xy := range finitePoints(s, false) {
				lo, hi = min(lo, xy.X), max(hi, xy.X)
			}
		}
	}
	return lo, hi
}

// shortTicks labels ticks with the fewest digits that tell them apart
// ("250" rather than "250.00").
type shortTicks struct{ plot.Ticker }

// Ticks returns the wrapped ticker's ticks with shortened labels.
func (t shortTicks) Ticks(lo, hi float64) []plot.Tick {
	ticks := t.Ticker.Ticks(lo, hi)
	for i := range ticks {
		if ticks[i].Label != "" {
			ticks[i].Label = strconv.FormatFloat(ticks[i].Value, 'g', 6, 64)
		}
	}
	return ticks
}

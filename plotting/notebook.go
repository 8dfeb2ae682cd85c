package plotting

import (
	"encoding/base64"
	"fmt"
	"image"
	"math"
	"strings"
	"sync"
	"time"

	"github.com/janpfeifer/gonb/gonbui"
	"k8s.io/klog/v2"
)

// InNotebook tells whether the program runs as a GoNB notebook cell; the
// Display functions and [LivePlot] draw nothing otherwise.
//
// Each Display function waits until GoNB has received its output, so
// nothing is lost when the cell's program ends right after it.
func InNotebook() bool { return gonbui.IsNotebook }

// DisplayImage shows img in the notebook cell output as a PNG.
func DisplayImage(img image.Image) {
	if !gonbui.IsNotebook {
		return
	}
	if err := gonbui.DisplayImage(img); err != nil {
		klog.Errorf("plotting: displaying image: %v", err)
	}
	gonbui.Sync()
}

// DisplayGIF shows an (animated) GIF, given as encoded bytes, in the notebook.
func DisplayGIF(gifBytes []byte) {
	if !gonbui.IsNotebook {
		return
	}
	gonbui.DisplayHTML(gifHTML(gifBytes))
	gonbui.Sync()
}

// gifHTML embeds GIF bytes in an <img> element.
func gifHTML(gifBytes []byte) string {
	return `<img src="data:image/gif;base64,` + base64.StdEncoding.EncodeToString(gifBytes) + `">`
}

// DisplayGallery shows [Gallery] of rows in the notebook.
func DisplayGallery(rows []GalleryRow, scale int) {
	if !gonbui.IsNotebook {
		return
	}
	DisplayImage(Gallery(rows, scale))
}

// DisplayCurves shows [Curves] of rows in the notebook.
func DisplayCurves(rows []MetricsRow) {
	if !gonbui.IsNotebook {
		return
	}
	img, err := Curves(rows)
	if err != nil {
		klog.Errorf("plotting: drawing curves: %v", err)
		return
	}
	DisplayImage(img)
}

// DisplayGrowth shows the frames as an animated GIF in the notebook; see
// [GrowthGIFBytes] for scale and delay.
func DisplayGrowth(frames []GrowthFrame, scale, delay int) {
	if !gonbui.IsNotebook {
		return
	}
	b, err := GrowthGIFBytes(frames, scale, delay)
	if err != nil {
		klog.Errorf("plotting: drawing growth: %v", err)
		return
	}
	DisplayGIF(b)
}

// LivePlot is a line plot that redraws itself in place in the notebook cell
// output while values arrive, typically losses and Dice during training.
// Series whose name contains "loss" share the upper panel; all others share
// the lower one. Redraws happen at most once per MinInterval; call Flush at
// the end to draw the last values. Outside a notebook it only collects
// values, which [LivePlot.Image] can still draw.
type LivePlot struct {
	// MinInterval is the shortest time between two redraws.
	MinInterval time.Duration

	// Width and Height of the picture in pixels.
	Width, Height int

	mu        sync.Mutex
	title     string
	displayID string
	series    map[string]*series
	order     []string
	lastDraw  time.Time
	pending   bool
}

// NewLivePlot returns an empty LivePlot redrawn at most once a second.
func NewLivePlot(title string) *LivePlot {
	return &LivePlot{
		MinInterval: time.Second,
		Width:       800,
		Height:      560,
		title:       title,
		displayID:   "mednca_liveplot_" + gonbui.UniqueId(),
		series:      map[string]*series{},
	}
}

// Add appends (step, value) to the named series and redraws when the last
// redraw is older than MinInterval. NaN values are kept but not drawn.
func (p *LivePlot) Add(step int, name string, value float64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	s, ok := p.series[name]
	if !ok {
		s = &series{name: name, color: seriesColors[len(p.order)%len(seriesColors)]}
		p.series[name] = s
		p.order = append(p.order, name)
	}
	s.x = append(s.x, float64(step))
	s.y = append(s.y, value)
	p.pending = true
	if time.Since(p.lastDraw) >= p.MinInterval {
		p.redrawLocked()
	}
}

// AddMetrics adds the finite values of a metrics.csv row as the series
// "train loss", "val loss", "val Dice" and "val IoU".
func (p *LivePlot) AddMetrics(r MetricsRow) {
	values := []struct {
		name  string
		value float64
	}{{"train loss", r.TrainLoss}, {"val loss", r.ValLoss}, {"val Dice", r.ValDice},
		{"val IoU", r.ValIoU}}
	for _, v := range values {
		if !math.IsNaN(v.value) {
			p.Add(r.Step, v.name, v.value)
		}
	}
}

// Flush redraws now if values arrived since the last redraw, and waits
// until the notebook has received the picture.
func (p *LivePlot) Flush() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.pending {
		p.redrawLocked()
	}
	gonbui.Sync()
}

// Image draws the current values: one panel for losses, one for the rest
// (only the non-empty ones).
func (p *LivePlot) Image() (image.Image, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.imageLocked()
}

func (p *LivePlot) imageLocked() (image.Image, error) {
	losses := panel{title: p.title, yLabel: "loss"}
	others := panel{title: p.title, yLabel: "value", legendBottom: true}
	for _, name := range p.order {
		if strings.Contains(strings.ToLower(name), "loss") {
			losses.series = append(losses.series, *p.series[name])
		} else {
			others.series = append(others.series, *p.series[name])
		}
	}
	losses.logY = spansDecades(losses.series, 20)
	var panels []panel
	for _, pn := range []panel{losses, others} {
		if len(pn.series) > 0 {
			panels = append(panels, pn)
		}
	}
	if len(panels) == 0 {
		return nil, fmt.Errorf("live plot %q has no values yet", p.title)
	}
	if len(panels) == 2 {
		panels[1].title = "" // One title for the figure is enough.
	}
	return renderPanels(panels, "step", p.Width, p.Height)
}

// redrawLocked replaces the plot shown in the cell output.
func (p *LivePlot) redrawLocked() {
	p.lastDraw = time.Now()
	p.pending = false
	if !gonbui.IsNotebook {
		return
	}
	img, err := p.imageLocked()
	if err != nil {
		klog.Errorf("plotting: %v", err)
		return
	}
	src, err := gonbui.EmbedImageAsPNGSrc(img)
	if err != nil {
		klog.Errorf("plotting: live plot %q: %v", p.title, err)
		return
	}
	gonbui.UpdateHTML(p.displayID, `<img src="`+src+`">`)
}

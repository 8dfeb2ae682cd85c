package plotting

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/gif"
	"math"
	"os"
)

// GrowthFrame is the NCA state of one step: Channels[0] is the lesion
// probability (sigmoid of the lesion logit) and the following entries are
// hidden channels chosen by the caller, each Size*Size values. Level-1
// frames are smaller than level-2 ones; they are enlarged for display.
type GrowthFrame struct {
	Level, Step, Size int
	Channels          [][]float32
}

// colorLevels is the number of distinct colour-map entries of growth
// pictures; with white and black it fills a 256-colour GIF palette.
const colorLevels = 254

// growthPalette is the GIF palette: white, black, then the quantized viridis.
var growthPalette = func() color.Palette {
	p := color.Palette{color.RGBA{255, 255, 255, 255}, color.RGBA{0, 0, 0, 255}}
	for k := range colorLevels {
		p = append(p, quantViridis(float64(k)/(colorLevels-1)))
	}
	return p
}()

// quantViridis is Viridis rounded to one of colorLevels entries, so every
// pixel of a growth picture has an exact palette colour.
func quantViridis(t float64) color.RGBA {
	if math.IsNaN(t) {
		t = 0
	}
	k := math.Round(min(1, max(0, t)) * (colorLevels - 1))
	return Viridis(k / (colorLevels - 1))
}

// growthLayout holds what every growth picture shares: the tile size, the
// channel names and the value range of each channel.
type growthLayout struct {
	tile     int
	names    []string
	lo, hi   []float64
	channels int
}

// newGrowthLayout checks the frames and measures them. The lesion channel is
// shown over [0,1]; each hidden channel over its own range across all frames,
// so colours compare over time.
func newGrowthLayout(frames []GrowthFrame, scale int) (growthLayout, error) {
	if len(frames) == 0 {
		return growthLayout{}, fmt.Errorf("no growth frames to draw")
	}
	l := growthLayout{}
	maxSize := 0
	for i, f := range frames {
		if len(f.Channels) == 0 {
			return l, fmt.Errorf("frame %d (level %d step %d) has no channels", i, f.Level, f.Step)
		}
		for c, ch := range f.Channels {
			if len(ch) != f.Size*f.Size {
				return l, fmt.Errorf("frame %d (level %d step %d) channel %d has %d values, expected %d*%d",
					i, f.Level, f.Step, c, len(ch), f.Size, f.Size)
			}
		}
		maxSize = max(maxSize, f.Size)
		l.channels = max(l.channels, len(f.Channels))
	}
	l.tile = maxSize * max(1, scale)
	l.lo, l.hi = make([]float64, l.channels), make([]float64, l.channels)
	for c := range l.channels {
		l.lo[c], l.hi[c] = math.Inf(1), math.Inf(-1)
		l.names = append(l.names, fmt.Sprintf("ch %d", c))
	}
	l.names[0], l.lo[0], l.hi[0] = "lesion", 0, 1
	for _, f := range frames {
		for c := 1; c < len(f.Channels); c++ {
			for _, v := range f.Channels[c] {
				if !math.IsNaN(float64(v)) {
					l.lo[c], l.hi[c] = min(l.lo[c], float64(v)), max(l.hi[c], float64(v))
				}
			}
		}
	}
	return l, nil
}

// drawChannel paints channel c of f enlarged to the layout's tile at (x0,y0).
func (l growthLayout) drawChannel(dst *image.RGBA, x0, y0 int, f GrowthFrame, c int) {
	s := l.tile / f.Size
	span := l.hi[c] - l.lo[c]
	for y := range f.Size {
		for x := range f.Size {
			t := 0.5
			if span > 0 {
				t = (float64(f.Channels[c][y*f.Size+x]) - l.lo[c]) / span
			}
			fillBlock(dst, x0+x*s, y0+y*s, s, quantViridis(t))
		}
	}
}

// frameLabel names a frame in headers.
func frameLabel(f GrowthFrame) string {
	return fmt.Sprintf("L%d s%d", f.Level, f.Step)
}

// GrowthStrip draws the frames as columns (headed "L<level> s<step>") and
// their channels as rows (lesion first), every map enlarged to the largest
// frame size times scale. It panics when a frame is malformed; use
// [GrowthGIFBytes] for an error instead.
func GrowthStrip(frames []GrowthFrame, scale int) image.Image {
	l, err := newGrowthLayout(frames, scale)
	if err != nil {
		panic("plotting: " + err.Error())
	}
	nameW := 7*len("lesion") + gap
	canvas := newCanvas(gap+nameW+len(frames)*(l.tile+gap), labelHeight+l.channels*(l.tile+gap)+gap)
	for c, name := range l.names {
		drawText(canvas, gap, labelHeight+c*(l.tile+gap)+l.tile/2-labelHeight/2, nameW, name, TextColor)
	}
	for i, f := range frames {
		x0 := gap + nameW + i*(l.tile+gap)
		drawText(canvas, x0, 0, l.tile, frameLabel(f), TextColor)
		for c := range f.Channels {
			l.drawChannel(canvas, x0, labelHeight+c*(l.tile+gap), f, c)
		}
	}
	return canvas
}

// frameImage draws one GIF frame: a title line and the channels side
// by side with their names underneath.
func (l growthLayout) frameImage(f GrowthFrame) *image.RGBA {
	w := gap + l.channels*(l.tile+gap)
	canvas := newCanvas(w, labelHeight+l.tile+labelHeight)
	drawText(canvas, gap, 0, w-gap, fmt.Sprintf("level %d  step %d", f.Level, f.Step), TextColor)
	for c := range f.Channels {
		x0 := gap + c*(l.tile+gap)
		l.drawChannel(canvas, x0, labelHeight, f, c)
		drawText(canvas, x0, labelHeight+l.tile, l.tile, l.names[c], TextColor)
	}
	return canvas
}

// GrowthGIFBytes encodes the frames as a looping animated GIF, one frame
// per GrowthFrame shown for delay hundredths of a second (the last one four
// times longer), every map enlarged to the largest frame size times scale.
func GrowthGIFBytes(frames []GrowthFrame, scale, delay int) ([]byte, error) {
	l, err := newGrowthLayout(frames, scale)
	if err != nil {
		return nil, err
	}
	anim := &gif.GIF{}
	for i, f := range frames {
		anim.Image = append(anim.Image, toPaletted(l.frameImage(f), growthPalette))
		d := max(1, delay)
		if i == len(frames)-1 {
			d *= 4 // Pause on the final state before looping.
		}
		anim.Delay = append(anim.Delay, d)
	}
	var buf bytes.Buffer
	if err := gif.EncodeAll(&buf, anim); err != nil {
		return nil, fmt.Errorf("encoding growth GIF: %w", err)
	}
	return buf.Bytes(), nil
}

// SaveGrowthGIF writes [GrowthGIFBytes] to path atomically.
func SaveGrowthGIF(path string, frames []GrowthFrame, scale, delay int) error {
	b, err := GrowthGIFBytes(frames, scale, delay)
	if err != nil {
		return fmt.Errorf("growth GIF %q: %w", path, err)
	}
	return writeAtomic(path, func(f *os.File) error {
		_, err := f.Write(b)
		return err
	})
}

// toPaletted converts img to the palette, caching the index of each colour:
// growth pictures use only palette colours, so the search runs rarely.
func toPaletted(img *image.RGBA, p color.Palette) *image.Paletted {
	out := image.NewPaletted(img.Bounds(), p)
	cache := map[color.RGBA]uint8{}
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			c := img.RGBAAt(x, y)
			idx, ok := cache[c]
			if !ok {
				idx = uint8(p.Index(c))
				cache[c] = idx
			}
			out.SetColorIndex(x, y, idx)
		}
	}
	return out
}

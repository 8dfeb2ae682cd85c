package plotting

import (
	"fmt"
	"image"
	"image/color"
	"image/draw"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"
)

var (
	// TruthColor outlines ground-truth lesion masks.
	TruthColor = color.RGBA{R: 0, G: 235, B: 70, A: 255}

	// PredColor outlines (and tints) predicted lesion masks.
	PredColor = color.RGBA{R: 255, G: 40, B: 200, A: 255}

	// Background fills the space between tiles.
	Background = color.RGBA{R: 255, G: 255, B: 255, A: 255}

	// TextColor is used for labels and headers.
	TextColor = color.RGBA{R: 0, G: 0, B: 0, A: 255}
)

// labelFace is the font of every label: a fixed 7x13 bitmap font, readable at
// any image scale and without font files.
var labelFace = basicfont.Face7x13

// labelHeight is the height in pixels reserved for one line of text.
const labelHeight = 16

// gap is the number of background pixels between tiles.
const gap = 4

// checkLen panics when a pixel slice does not hold size*size values: that is
// a programming error of the caller, not something a user can cause.
func checkLen(what string, i int, values []float32, size int) {
	if len(values) != size*size {
		panic(fmt.Sprintf("plotting: %s[%d] has %d values, expected size*size = %d*%d = %d",
			what, i, len(values), size, size, size*size))
	}
}

// gray8 maps a value in [0,1] to a byte, clamping out-of-range values.
func gray8(v float32) uint8 {
	switch {
	case v != v || v <= 0: // NaN shows as black.
		return 0
	case v >= 1:
		return 255
	}
	return uint8(v*255 + 0.5)
}

// drawGray paints values (size x size) into dst at (x0,y0), each value
// becoming a scale x scale block.
func drawGray(dst *image.RGBA, x0, y0 int, values []float32, size, scale int) {
	for y := range size {
		for x := range size {
			g := gray8(values[y*size+x])
			fillBlock(dst, x0+x*scale, y0+y*scale, scale, color.RGBA{R: g, G: g, B: g, A: 255})
		}
	}
}

// fillBlock fills a scale x scale square whose top-left corner is (x,y).
func fillBlock(dst *image.RGBA, x, y, scale int, c color.RGBA) {
	for dy := range scale {
		for dx := range scale {
			dst.SetRGBA(x+dx, y+dy, c)
		}
	}
}

// outline returns, for each pixel, whether it lies on the boundary of the
// mask: inside the mask (value > 0.5) and within thickness pixels (Chebyshev
// distance) of a pixel outside it. Pixels beyond the image border do not
// count as outside, so a lesion cut by the border is not closed there.
func outline(mask []float32, size, thickness int) []bool {
	edge := make([]bool, size*size)
	for y := range size {
		for x := range size {
			if mask[y*size+x] <= 0.5 {
				continue
			}
			edge[y*size+x] = hasOutsideNear(mask, size, x, y, thickness)
		}
	}
	return edge
}

// hasOutsideNear tells whether any pixel within t of (x,y) is outside the mask.
func hasOutsideNear(mask []float32, size, x, y, t int) bool {
	for ny := max(0, y-t); ny <= min(size-1, y+t); ny++ {
		for nx := max(0, x-t); nx <= min(size-1, x+t); nx++ {
			if mask[ny*size+nx] <= 0.5 {
				return true
			}
		}
	}
	return false
}

// outlineThickness picks a line width that stays visible once the tile is
// shown at a typical notebook width: 1 pixel up to 256, 2 up to 512, ...
func outlineThickness(size int) int {
	return max(1, (size+255)/256)
}

// drawOutline paints the boundary of mask over the tile at (x0,y0).
func drawOutline(dst *image.RGBA, x0, y0 int, mask []float32, size, scale int, c color.RGBA) {
	edge := outline(mask, size, outlineThickness(size))
	for y := range size {
		for x := range size {
			if edge[y*size+x] {
				fillBlock(dst, x0+x*scale, y0+y*scale, scale, c)
			}
		}
	}
}

// drawText writes s with its top-left corner near (x,y), cut to fit width
// pixels (ending in "…" when cut).
func drawText(dst draw.Image, x, y, width int, s string, c color.Color) {
	s = fitText(s, width)
	d := font.Drawer{
		Dst:  dst,
		Src:  image.NewUniform(c),
		Face: labelFace,
		Dot:  fixed.P(x+1, y+labelFace.Ascent+1),
	}
	d.DrawString(s)
}

// fitText shortens s until it fits in width pixels.
func fitText(s string, width int) string {
	if font.MeasureString(labelFace, s).Ceil() <= width {
		return s
	}
	r := []rune(s)
	for len(r) > 0 && font.MeasureString(labelFace, string(r)+"~").Ceil() > width {
		r = r[:len(r)-1]
	}
	return string(r) + "~"
}

// newCanvas returns an RGBA image of w x h filled with Background.
func newCanvas(w, h int) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	draw.Draw(img, img.Bounds(), image.NewUniform(Background), image.Point{}, draw.Src)
	return img
}

package plotting

import (
	"fmt"
	"image"
	"image/color"
	"math"
)

// GalleryRow is one sample of a prediction gallery. Image, Truth, Prob and
// Std hold Size*Size values; Truth and Std may be nil. When RGB is set the
// image and overlay panels show it in colour instead of Image.
type GalleryRow struct {
	ID    string    // Sample id, shown in the row label.
	Size  int       // Side of every map, in pixels.
	Image []float32 // Gray input image in [0,1]; may be nil when RGB is set.
	RGB   []float32 // Colour input image, Size*Size*3 values (r,g,b per pixel), or nil.
	Truth []float32 // Ground-truth mask (>0.5 is lesion), or nil.
	Prob  []float32 // Predicted lesion probability in [0,1].
	Std   []float32 // Standard deviation of the probability over runs, or nil.
	Dice  float64   // Dice of the thresholded prediction; shown when Truth is set.
}

// StdRange is the standard deviation shown at the top of the uncertainty
// colour map: the largest possible for a value in [0,1].
const StdRange = 0.5

// PredTint is the opacity of the prediction tint in the overlay panel.
const PredTint = 0.35

// galleryColumn is one panel kind of the gallery.
type galleryColumn struct {
	header string
	draw   func(dst *image.RGBA, x0, y0 int, r GalleryRow, scale int)
}

// Gallery draws one row per sample with the panels: image, truth, prediction
// (probability as gray), overlay (image tinted where the prediction is above
// 0.5, with the predicted outline in [PredColor] and the truth outline in
// [TruthColor]) and uncertainty (Std in the viridis colour map over
// [0, StdRange]). The truth and uncertainty columns are left out when no row
// has them and left blank for rows without. Every map is enlarged scale
// times; rows may differ in Size, the largest sets the tile size.
func Gallery(rows []GalleryRow, scale int) image.Image {
	scale = max(1, scale)
	tile := 1
	hasTruth, hasStd := false, false
	for i, r := range rows {
		if r.RGB != nil {
			if len(r.RGB) != 3*r.Size*r.Size {
				panic(fmt.Sprintf("plotting: rows.RGB[%d] has %d values, expected 3*size*size = %d",
					i, len(r.RGB), 3*r.Size*r.Size))
			}
		} else {
			checkLen("rows.Image", i, r.Image, r.Size)
		}
		checkLen("rows.Prob", i, r.Prob, r.Size)
		if r.Truth != nil {
			checkLen("rows.Truth", i, r.Truth, r.Size)
		}
		if r.Std != nil {
			checkLen("rows.Std", i, r.Std, r.Size)
		}
		tile = max(tile, r.Size*scale)
		hasTruth = hasTruth || r.Truth != nil
		hasStd = hasStd || r.Std != nil
	}
	cols := galleryColumns(hasTruth, hasStd)

	// Each row has a label strip above its tiles; the header strip is on top.
	rowH := labelHeight + tile + gap
	canvas := newCanvas(gap+len(cols)*(tile+gap), labelHeight+len(rows)*rowH+gap)
	for c, col := range cols {
		drawText(canvas, gap+c*(tile+gap), 0, tile, col.header, TextColor)
	}
	for i, r := range rows {
		y0 := labelHeight + i*rowH
		drawText(canvas, gap, y0, canvas.Bounds().Dx()-2*gap, rowLabel(r), TextColor)
		s := tile / r.Size // Smaller maps are enlarged to fill the tile.
		for c, col := range cols {
			col.draw(canvas, gap+c*(tile+gap), y0+labelHeight, r, s)
		}
	}
	return canvas
}

// rowLabel is the text above a gallery row: the id and, with a truth, Dice.
func rowLabel(r GalleryRow) string {
	if r.Truth == nil || math.IsNaN(r.Dice) {
		return r.ID
	}
	return fmt.Sprintf("%s  Dice %.3f", r.ID, r.Dice)
}

// galleryColumns lists the panels in display order.
func galleryColumns(hasTruth, hasStd bool) []galleryColumn {
	cols := []galleryColumn{{"image", func(dst *image.RGBA, x, y int, r GalleryRow, s int) {
		for py := range r.Size {
			for px := range r.Size {
				fillBlock(dst, x+px*s, y+py*s, s, r.pixel(py*r.Size+px))
			}
		}
	}}}
	if hasTruth {
		cols = append(cols, galleryColumn{"truth", func(dst *image.RGBA, x, y int, r GalleryRow, s int) {
			if r.Truth != nil {
				drawGray(dst, x, y, r.Truth, r.Size, s)
			}
		}})
	}
	cols = append(cols,
		galleryColumn{"prediction", func(dst *image.RGBA, x, y int, r GalleryRow, s int) {
			drawGray(dst, x, y, r.Prob, r.Size, s)
		}},
		galleryColumn{"overlay", drawOverlay})
	if hasStd {
		cols = append(cols, galleryColumn{"uncertainty", func(dst *image.RGBA, x, y int, r GalleryRow, s int) {
			if r.Std != nil {
				drawColorMap(dst, x, y, r.Std, r.Size, s, 0, StdRange)
			}
		}})
	}
	return cols
}

// pixel returns the colour of input pixel i, from RGB when set.
func (r GalleryRow) pixel(i int) color.RGBA {
	if r.RGB != nil {
		return color.RGBA{R: gray8(r.RGB[3*i]), G: gray8(r.RGB[3*i+1]), B: gray8(r.RGB[3*i+2]), A: 255}
	}
	g := gray8(r.Image[i])
	return color.RGBA{R: g, G: g, B: g, A: 255}
}

// drawOverlay draws the image tinted with PredColor where Prob > 0.5, then
// the predicted outline and, on top, the truth outline.
func drawOverlay(dst *image.RGBA, x0, y0 int, r GalleryRow, scale int) {
	n := r.Size
	for y := range n {
		for x := range n {
			c := r.pixel(y*n + x)
			if r.Prob[y*n+x] > 0.5 {
				c = blend(c, PredColor, PredTint)
			}
			fillBlock(dst, x0+x*scale, y0+y*scale, scale, c)
		}
	}
	drawOutline(dst, x0, y0, r.Prob, n, scale, PredColor)
	if r.Truth != nil {
		drawOutline(dst, x0, y0, r.Truth, n, scale, TruthColor)
	}
}

// drawColorMap paints values mapped from [lo,hi] through [Viridis].
func drawColorMap(dst *image.RGBA, x0, y0 int, values []float32, size, scale int, lo, hi float64) {
	for y := range size {
		for x := range size {
			t := (float64(values[y*size+x]) - lo) / (hi - lo)
			fillBlock(dst, x0+x*scale, y0+y*scale, scale, Viridis(t))
		}
	}
}

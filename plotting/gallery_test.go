package plotting

import (
	"image"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// galleryRow builds a sample whose truth is a disk at (20,20) and whose
// prediction is a disk shifted to (24,20), with uncertainty on its rim.
func galleryRow(id string, size int) GalleryRow {
	img, truth := disk(size, 20, 20, 10)
	_, pred := disk(size, 24, 20, 10)
	std := make([]float32, size*size)
	for i, p := range pred {
		prob := 0.1 + 0.8*p
		pred[i] = prob
		std[i] = 0.5 * float32(math.Sqrt(float64(prob*(1-prob))))
	}
	return GalleryRow{ID: id, Size: size, Image: img, Truth: truth, Prob: pred, Std: std, Dice: 0.8}
}

// tileOrigin returns the top-left pixel of column c in row r of a gallery.
func tileOrigin(tile, r, c int) image.Point {
	return image.Pt(gap+c*(tile+gap), labelHeight+r*(labelHeight+tile+gap)+labelHeight)
}

func TestGalleryLayoutAndOverlay(t *testing.T) {
	const size, scale = 40, 2
	rows := []GalleryRow{galleryRow("ISIC_A", size), galleryRow("ISIC_B", size)}
	g := Gallery(rows, scale)
	tile := size * scale

	// Five columns (image, truth, prediction, overlay, uncertainty), two rows.
	assert.Equal(t, gap+5*(tile+gap), g.Bounds().Dx())
	assert.Equal(t, labelHeight+2*(labelHeight+tile+gap)+gap, g.Bounds().Dy())

	// Inside the predicted disk but away from both outlines, the overlay is
	// the image tinted towards PredColor: magenta-ish, not gray.
	o := tileOrigin(tile, 1, 3)
	inside := color.RGBAModel.Convert(g.At(o.X+28*scale, o.Y+20*scale)).(color.RGBA)
	assert.Greater(t, int(inside.R), int(inside.G)+40, "tinted pixel %v", inside)
	assert.Greater(t, int(inside.B), int(inside.G)+20, "tinted pixel %v", inside)

	// Outside the prediction the overlay is the plain gray image.
	outside := color.RGBAModel.Convert(g.At(o.X+2*scale, o.Y+2*scale)).(color.RGBA)
	assert.Equal(t, outside.R, outside.G)
	assert.Equal(t, outside.G, outside.B)

	// The predicted outline crosses the right edge of the shifted disk (x=34),
	// the truth outline the left edge of the truth disk (x=10).
	assert.True(t, isColor(g, o.X+34*scale, o.Y+20*scale, PredColor))
	assert.True(t, isColor(g, o.X+10*scale, o.Y+20*scale, TruthColor))

	// The prediction panel is gray: bright inside, dark outside.
	p := tileOrigin(tile, 0, 2)
	assert.Equal(t, gray8(0.9), color.GrayModel.Convert(g.At(p.X+24*scale, p.Y+20*scale)).(color.Gray).Y)
	assert.Equal(t, gray8(0.1), color.GrayModel.Convert(g.At(p.X+1, p.Y+1)).(color.Gray).Y)

	// The uncertainty panel uses the colour map: its low end in the corner.
	u := tileOrigin(tile, 0, 4)
	low := color.RGBAModel.Convert(g.At(u.X+1, u.Y+1)).(color.RGBA)
	assert.Equal(t, Viridis(float64(rows[0].Std[0])/StdRange), low)

	// Row labels are written above each row.
	assert.Greater(t, countDark(g, image.Rect(gap, labelHeight, gap+120, 2*labelHeight)), 20)

	if out := os.Getenv("MEDNCA_PLOT_OUT"); out != "" {
		require.NoError(t, SavePNG(filepath.Join(out, "gallery.png"), g))
	}
}

func TestGalleryWithoutTruthAndStd(t *testing.T) {
	r := galleryRow("x", 16)
	r.Truth, r.Std = nil, nil
	g := Gallery([]GalleryRow{r}, 1)

	// Only image, prediction and overlay remain.
	assert.Equal(t, gap+3*(16+gap), g.Bounds().Dx())
}

func TestGalleryPanicsOnWrongLength(t *testing.T) {
	rows := []GalleryRow{galleryRow("a", 16), galleryRow("b", 16)}
	rows[1].Std = rows[1].Std[:10]
	assert.PanicsWithValue(t, "plotting: rows.Std[1] has 10 values, expected size*size = 16*16 = 256",
		func() { Gallery(rows, 1) })
}

func TestGalleryMixedSizes(t *testing.T) {
	small := galleryRow("small", 40)
	big := galleryRow("big", 80)
	g := Gallery([]GalleryRow{small, big}, 1)

	// Both rows use the 80-pixel tile; the small one is enlarged twice.
	assert.Equal(t, gap+5*(80+gap), g.Bounds().Dx())
	o := tileOrigin(80, 0, 2)
	assert.Equal(t, gray8(0.9), color.GrayModel.Convert(g.At(o.X+24*2, o.Y+20*2)).(color.Gray).Y)
}

func TestGalleryRGB(t *testing.T) {
	r := galleryRow("rgb", 16)
	r.Image = nil
	r.RGB = make([]float32, 3*16*16)
	for i := range 16 * 16 {
		r.RGB[3*i] = 1 // Pure red input.
	}
	g := Gallery([]GalleryRow{r}, 1)

	// The image panel is red; outside the prediction the overlay is too.
	o := tileOrigin(16, 0, 0)
	assert.True(t, isColor(g, o.X+1, o.Y+1, color.RGBA{R: 255, A: 255}))
	ov := tileOrigin(16, 0, 3)
	assert.True(t, isColor(g, ov.X+1, ov.Y+1, color.RGBA{R: 255, A: 255}))
	assert.Panics(t, func() {
		r.RGB = r.RGB[:5]
		Gallery([]GalleryRow{r}, 1)
	})
}

package plotting

import (
	"image"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDisplayOutsideNotebookIsNoOp(t *testing.T) {
	require.False(t, InNotebook(), "tests do not run inside GoNB")

	// None of these may fail or block when no notebook is attached.
	DisplayImage(image.NewRGBA(image.Rect(0, 0, 2, 2)))
	DisplayGIF([]byte("GIF89a"))
	DisplayGallery([]GalleryRow{galleryRow("x", 16)}, 1)
	DisplayCurves(manyRows(5))
	DisplayGrowth(growthFrames(), 1, 10)
}

func TestLivePlotCollectsAndDraws(t *testing.T) {
	p := NewLivePlot("training")
	_, err := p.Image()
	assert.ErrorContains(t, err, "no values")

	for _, r := range manyRows(60) {
		p.AddMetrics(r)
	}
	p.Add(300, "val Dice", math.NaN()) // Kept but not drawn.
	p.Flush()

	img, err := p.Image()
	require.NoError(t, err)
	assert.Equal(t, image.Rect(0, 0, p.Width, p.Height), img.Bounds())

	// Two panels: losses above (first series colour), Dice/IoU below.
	top := image.Rect(0, 0, p.Width, p.Height/2)
	bottom := image.Rect(0, p.Height/2, p.Width, p.Height)
	assert.Greater(t, nearColor(img, top, seriesColors[0], 30), 100)
	assert.Greater(t, nearColor(img, bottom, seriesColors[2], 30), 50)
	assert.Less(t, nearColor(img, bottom, seriesColors[0], 30), 10)
	if out := os.Getenv("MEDNCA_PLOT_OUT"); out != "" {
		require.NoError(t, SavePNG(filepath.Join(out, "liveplot.png"), img))
	}
}

func TestLivePlotSinglePanel(t *testing.T) {
	p := NewLivePlot("dice only")
	p.Add(1, "Dice", 0.5)
	p.Add(2, "Dice", 0.6)
	img, err := p.Image()
	require.NoError(t, err)

	// One panel fills the picture: the line appears in both halves' range.
	assert.Greater(t, nearColor(img, img.Bounds(), seriesColors[0], 30), 50)
}

package plotting

import (
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// disk returns a size x size mask with a filled disk of radius r at (cx,cy),
// and a gray gradient image to draw it on.
func disk(size, cx, cy, r int) (img, mask []float32) {
	img = make([]float32, size*size)
	mask = make([]float32, size*size)
	for y := range size {
		for x := range size {
			img[y*size+x] = float32(x) / float32(size)
			if (x-cx)*(x-cx)+(y-cy)*(y-cy) <= r*r {
				mask[y*size+x] = 1
			}
		}
	}
	return img, mask
}

// isColor tells whether the pixel at (x,y) is exactly c.
func isColor(img image.Image, x, y int, c color.RGBA) bool {
	return color.RGBAModel.Convert(img.At(x, y)).(color.RGBA) == c
}

// distToBoundary returns the Chebyshev distance from (x,y) to the nearest
// pixel whose 4-neighbourhood crosses the mask boundary.
func distToBoundary(mask []float32, size, x, y int) int {
	best := size
	for by := range size {
		for bx := range size {
			in := mask[by*size+bx] > 0.5
			crosses := false
			for _, d := range [][2]int{{1, 0}, {-1, 0}, {0, 1}, {0, -1}} {
				nx, ny := bx+d[0], by+d[1]
				if nx >= 0 && ny >= 0 && nx < size && ny < size && (mask[ny*size+nx] > 0.5) != in {
					crosses = true
				}
			}
			if crosses {
				best = min(best, max(abs(bx-x), abs(by-y)))
			}
		}
	}
	return best
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}

func TestMaskOutlineGridSizeAndOutline(t *testing.T) {
	const size = 40
	img0, mask0 := disk(size, 20, 20, 10)
	img1, mask1 := disk(size, 12, 25, 6)
	img2, _ := disk(size, 0, 0, 0)
	got := MaskOutlineGrid([][]float32{img0, img1, img2}, [][]float32{mask0, mask1, nil},
		size, 2, []string{"ISIC_0000000", "ISIC_0000001", "none"})

	// Two columns, two rows, each tile with a label strip.
	b := got.Bounds()
	assert.Equal(t, gap+2*(size+gap), b.Dx())
	assert.Equal(t, gap+2*(size+labelHeight+gap), b.Dy())

	// Every outline pixel of tile 0 lies on (or right next to) the disk boundary,
	// and the disk's leftmost/rightmost boundary pixels are outlined.
	x0, y0 := gap, gap
	count := 0
	for y := range size {
		for x := range size {
			if isColor(got, x0+x, y0+y, TruthColor) {
				count++
				assert.LessOrEqual(t, distToBoundary(mask0, size, x, y), 1, "outline pixel (%d,%d)", x, y)
			}
		}
	}
	assert.Greater(t, count, 40, "the outline of a radius-10 disk has more than 40 pixels")
	assert.True(t, isColor(got, x0+10, y0+20, TruthColor), "left edge of disk outlined")
	assert.True(t, isColor(got, x0+30, y0+20, TruthColor), "right edge of disk outlined")
	assert.False(t, isColor(got, x0+20, y0+20, TruthColor), "disk centre not outlined")

	// Tile 1 is in column 2; tile 2 (no mask) has no outline at all.
	x1 := gap + size + gap
	assert.True(t, isColor(got, x1+6, y0+25, TruthColor), "tile 1 outline where its disk starts")
	y2 := gap + size + labelHeight + gap
	for y := range size {
		for x := range size {
			require.False(t, isColor(got, x0+x, y2+y, TruthColor),
				"tile without mask has outline at (%d,%d)", x, y)
		}
	}

	// The label strip holds dark text pixels.
	assert.Greater(t, countDark(got, image.Rect(x0, y0+size, x0+size, y0+size+labelHeight)), 10)
}

// countDark counts pixels in r whose luminance is below one quarter.
func countDark(img image.Image, r image.Rectangle) int {
	n := 0
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			if color.GrayModel.Convert(img.At(x, y)).(color.Gray).Y < 64 {
				n++
			}
		}
	}
	return n
}

func TestMaskOutlineGridNoLabels(t *testing.T) {
	img, mask := disk(16, 8, 8, 4)
	got := MaskOutlineGrid([][]float32{img}, [][]float32{mask}, 16, 5, nil)
	assert.Equal(t, image.Rect(0, 0, gap+16+gap, gap+16+gap), got.Bounds())
}

func TestMaskOutlineGridPanicsOnWrongLength(t *testing.T) {
	assert.PanicsWithValue(t,
		"plotting: masks[0] has 3 values, expected size*size = 4*4 = 16",
		func() { MaskOutlineGrid([][]float32{make([]float32, 16)}, [][]float32{{1, 2, 3}}, 4, 1, nil) })
}

func TestSavePNG(t *testing.T) {
	img, mask := disk(32, 16, 16, 8)
	grid := MaskOutlineGrid([][]float32{img}, [][]float32{mask}, 32, 1, []string{"x"})
	path := filepath.Join(t.TempDir(), "a", "b", "grid.png")
	require.NoError(t, SavePNG(path, grid))

	// The file decodes to the same picture and no temporary file is left.
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	back, err := png.Decode(f)
	require.NoError(t, err)
	assert.Equal(t, grid.Bounds(), back.Bounds())
	at := image.Pt(gap+8, gap+16)
	assert.Equal(t, color.RGBAModel.Convert(grid.At(at.X, at.Y)), color.RGBAModel.Convert(back.At(at.X, at.Y)))
	entries, err := os.ReadDir(filepath.Dir(path))
	require.NoError(t, err)
	assert.Len(t, entries, 1)
}

func TestSavePNGErrorNamesPath(t *testing.T) {
	// A regular file where a directory is expected makes MkdirAll fail.
	dir := t.TempDir()
	blocker := filepath.Join(dir, "file")
	require.NoError(t, os.WriteFile(blocker, []byte("x"), 0o644))
	err := SavePNG(filepath.Join(blocker, "sub", "x.png"), image.NewRGBA(image.Rect(0, 0, 1, 1)))
	require.Error(t, err)
	assert.Contains(t, err.Error(), blocker)
}

package plotting

import (
	"image"
	_ "image/jpeg"
	_ "image/png"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// isicDir returns the ISIC 2018 sample directory (MEDNCA_ISIC_DIR, else the
// shared copy next to the repository) or skips the test when it is absent.
func isicDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("MEDNCA_ISIC_DIR")
	if dir == "" {
		dir = filepath.Join("..", "..", "shared", "isic2018")
	}
	if _, err := os.Stat(filepath.Join(dir, "ISIC2018_Task1-2_Training_Input")); err != nil {
		t.Skipf("ISIC 2018 sample not found in %q (set MEDNCA_ISIC_DIR): %v", dir, err)
	}
	return dir
}

// loadGray decodes the image at path and box-averages it to size x size gray
// values in [0,1].
func loadGray(t *testing.T, path string, size int) []float32 {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	img, _, err := image.Decode(f)
	require.NoError(t, err)

	b := img.Bounds()
	out := make([]float32, size*size)
	counts := make([]float32, size*size)
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			i := (y-b.Min.Y)*size/b.Dy()*size + (x-b.Min.X)*size/b.Dx()
			out[i] += (0.299*float32(r) + 0.587*float32(g) + 0.114*float32(bl)) / 65535
			counts[i]++
		}
	}
	for i := range out {
		out[i] /= counts[i]
	}
	return out
}

func TestMaskOutlineGridOnISIC(t *testing.T) {
	dir := isicDir(t)
	const size = 128
	ids := []string{"ISIC_0000000", "ISIC_0000001", "ISIC_0000003"}
	var images, masks [][]float32
	for _, id := range ids {
		img := filepath.Join(dir, "ISIC2018_Task1-2_Training_Input", id+".jpg")
		mask := filepath.Join(dir, "ISIC2018_Task1_Training_GroundTruth", id+"_segmentation.png")
		images = append(images, loadGray(t, img, size))
		masks = append(masks, loadGray(t, mask, size))
	}
	grid := MaskOutlineGrid(images, masks, size, 3, ids)

	// Each tile has an outline, and every outline pixel lies on its mask boundary.
	for i := range ids {
		x0, y0 := gap+i*(size+gap), gap
		n := 0
		for y := range size {
			for x := range size {
				if isColor(grid, x0+x, y0+y, TruthColor) {
					n++
					require.Greater(t, masks[i][y*size+x], float32(0.5), "%s outline outside mask", ids[i])
					require.LessOrEqual(t, distToBoundary(masks[i], size, x, y), 1, "%s", ids[i])
				}
			}
		}
		assert.Greater(t, n, size/2, "%s: outline too short", ids[i])
	}
	if out := os.Getenv("MEDNCA_PLOT_OUT"); out != "" {
		require.NoError(t, SavePNG(filepath.Join(out, "isic_outline_grid.png"), grid))
	}
}

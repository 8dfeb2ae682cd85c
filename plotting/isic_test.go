package plotting

import (
	"image"
	"image/color"
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
	img := decodeImage(t, path)

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

// loadRGB decodes the image at path and samples it to size x size RGB
// values in [0,1] (nearest pixel).
func loadRGB(t *testing.T, path string, size int) []float32 {
	t.Helper()
	img := decodeImage(t, path)
	b := img.Bounds()
	out := make([]float32, 3*size*size)
	for y := range size {
		for x := range size {
			r, g, bl, _ := img.At(b.Min.X+x*b.Dx()/size, b.Min.Y+y*b.Dy()/size).RGBA()
			i := 3 * (y*size + x)
			out[i], out[i+1], out[i+2] = float32(r)/65535, float32(g)/65535, float32(bl)/65535
		}
	}
	return out
}

func TestGalleryOnISIC(t *testing.T) {
	dir := isicDir(t)
	const size, shift = 96, 6
	var rows []GalleryRow
	for _, id := range []string{"ISIC_0000000", "ISIC_0000001"} {
		rgb := loadRGB(t, filepath.Join(dir, "ISIC2018_Task1-2_Training_Input", id+".jpg"), size)
		maskPath := filepath.Join(dir, "ISIC2018_Task1_Training_GroundTruth", id+"_segmentation.png")
		truth := loadGray(t, maskPath, size)

		// A prediction: the truth moved right, with doubt along its border.
		prob := make([]float32, size*size)
		std := make([]float32, size*size)
		for y := range size {
			for x := shift; x < size; x++ {
				prob[y*size+x] = 0.05 + 0.9*truth[y*size+x-shift]
			}
		}
		for i := range std {
			if edgeNear(prob, size, i%size, i/size) {
				std[i] = 0.4
			}
		}
		rows = append(rows, GalleryRow{ID: id, Size: size, RGB: rgb, Truth: truth, Prob: prob, Std: std,
			Dice: 0.9})
	}
	g := Gallery(rows, 1)

	// In the overlay, predicted pixels away from outlines are tinted towards
	// PredColor: compared with the input pixel, red and blue gain on green.
	o := tileOrigin(size, 0, 3)
	tinted := 0
	for y := range size {
		for x := range size {
			i := y*size + x
			if rows[0].Prob[i] < 0.5 || rows[0].Truth[i] < 0.5 || edgeNear(rows[0].Prob, size, x, y) {
				continue
			}
			in := rows[0].pixel(i)
			out := color.RGBAModel.Convert(g.At(o.X+x, o.Y+y)).(color.RGBA)
			if int(out.B)-int(in.B) > 10 && int(out.G) < int(in.G) {
				tinted++
			}
		}
	}
	assert.Greater(t, tinted, size*size/10, "tinted pixels inside the prediction")
	if out := os.Getenv("MEDNCA_PLOT_OUT"); out != "" {
		require.NoError(t, SavePNG(filepath.Join(out, "isic_gallery.png"), Gallery(rows, 2)))
	}
}

// edgeNear tells whether a pixel within 3 of (x,y) lies across the 0.5 level
// of m from (x,y).
func edgeNear(m []float32, size, x, y int) bool {
	in := m[y*size+x] > 0.5
	for ny := max(0, y-3); ny <= min(size-1, y+3); ny++ {
		for nx := max(0, x-3); nx <= min(size-1, x+3); nx++ {
			if (m[ny*size+nx] > 0.5) != in {
				return true
			}
		}
	}
	return false
}

// decodeImage decodes the JPEG or PNG file at path.
func decodeImage(t *testing.T, path string) image.Image {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	img, _, err := image.Decode(f)
	require.NoError(t, err, path)
	return img
}

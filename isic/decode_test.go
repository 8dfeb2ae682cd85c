package isic

import (
	"image"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/image/draw"
)

// gradient returns a w x h colour image whose channels vary along x and y.
func gradient(w, h int) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.Set(x, y, color.RGBA{uint8(255 * x / w), uint8(255 * y / h), uint8(100 + x%50), 255})
		}
	}
	return img
}

// copyAs returns img converted into the image type of dst (drawn pixel by
// pixel through the colour model).
func copyAs[T interface {
	image.Image
	Set(x, y int, c color.Color)
}](dst T, src image.Image) T {
	b := src.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			dst.Set(x, y, src.At(x, y))
		}
	}
	return dst
}

func TestPreprocessImageColorModels(t *testing.T) {
	src := gradient(96, 64)
	r := src.Bounds()
	want := PreprocessImage(src, 32)
	require.Len(t, want, 32*32)
	requireUnit(t, want)

	// Every pixel layout of the decoders must give the same luma.
	palette := color.Palette{}
	for i := range 256 {
		palette = append(palette, color.RGBA{uint8(i), uint8(255 - i), uint8(i / 2), 255})
	}
	cases := map[string]image.Image{
		"NRGBA":   copyAs(image.NewNRGBA(r), src),
		"RGBA64":  copyAs(image.NewRGBA64(r), src),
		"CMYK":    copyAs(image.NewCMYK(r), src),
		"sub-img": copyAs(image.NewRGBA(image.Rect(10, 20, 106, 84)), translate(src, 10, 20)),
	}
	for name, img := range cases {
		got := PreprocessImage(img, 32)
		assert.InDeltaSlice(t, want, got, 0.02, name)
	}

	// Gray images are their own luma.
	gray := copyAs(image.NewGray(r), src)
	gray16 := copyAs(image.NewGray16(r), gray)
	assert.InDeltaSlice(t, PreprocessImage(gray, 32), PreprocessImage(gray16, 32), 1e-5)
	assert.InDeltaSlice(t, want, PreprocessImage(gray, 32), 0.01)

	// A palette image reads its colours through the palette.
	pal := copyAs(image.NewPaletted(r, palette), src)
	assert.InDeltaSlice(t, PreprocessImage(copyAs(image.NewRGBA(r), pal), 32),
		PreprocessImage(pal, 32), 1e-5)
}

// translate returns img moved so its top-left corner is at (dx, dy).
func translate(img image.Image, dx, dy int) image.Image {
	b := img.Bounds()
	out := image.NewRGBA(b.Add(image.Pt(dx, dy)))
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			out.Set(x+dx, y+dy, img.At(x, y))
		}
	}
	return out
}

func TestPreprocessImageLumaOfKnownColours(t *testing.T) {
	for _, c := range []struct {
		rgb  color.RGBA
		luma float64
	}{
		{color.RGBA{255, 0, 0, 255}, 0.299},
		{color.RGBA{0, 255, 0, 255}, 0.587},
		{color.RGBA{0, 0, 255, 255}, 0.114},
		{color.RGBA{255, 255, 255, 255}, 1},
	} {
		img := image.NewRGBA(image.Rect(0, 0, 40, 30))
		for i := range img.Pix {
			img.Pix[i] = []uint8{c.rgb.R, c.rgb.G, c.rgb.B, 255}[i%4]
		}
		got := PreprocessImage(img, 8)
		assert.InDelta(t, c.luma, got[0], 1e-5, "%v", c.rgb)
		assert.InDelta(t, c.luma, got[63], 1e-5, "%v", c.rgb)
	}
}

func TestPreprocessImageFilters(t *testing.T) {
	// A one-pixel checkerboard has mean 0.5: a filter that averages the
	// area gives 0.5 everywhere; nearest-neighbour sampling would give 0s
	// or 1s.
	const src = 512
	board := image.NewGray(image.Rect(0, 0, src, src))
	for y := range src {
		for x := range src {
			board.Pix[y*src+x] = uint8(255 * ((x + y) % 2))
		}
	}
	for _, v := range PreprocessImage(board, 128) {
		require.InDelta(t, 0.5, v, 0.02)
	}

	// At the same size the filter is the identity.
	img := gradient(50, 50)
	gray := copyAs(image.NewGray(img.Bounds()), img)
	got := PreprocessImage(gray, 50)
	for i, v := range gray.Pix {
		require.InDelta(t, float64(v)/255, got[i], 1e-5)
	}

	// Upscaling keeps the range and the mean.
	up := PreprocessImage(gray, 173)
	requireUnit(t, up)
	assert.InDelta(t, mean(PreprocessImage(gray, 50)), mean(up), 0.01)
}

func TestPreprocessMask(t *testing.T) {
	// A binary disk keeps its area when downscaled, within a pixel ring.
	d := disk(400, 200, 180, 100)
	mask, nonBinary := PreprocessMask(d, 40)
	assert.False(t, nonBinary)
	requireBinary(t, mask)
	assert.InDelta(t, math.Pi*100*100/(400*400), mean(mask), 0.01)

	// Label-style masks mark lesion with 1, not 255.
	labels := image.NewGray(d.Bounds())
	for i, v := range d.Pix {
		labels.Pix[i] = v / 255
	}
	fromLabels, nonBinary := PreprocessMask(labels, 40)
	assert.False(t, nonBinary)
	assert.Equal(t, mask, fromLabels)

	// Gray levels are thresholded at one half and reported.
	soft := image.NewGray(d.Bounds())
	for i, v := range d.Pix {
		soft.Pix[i] = v/2 + uint8(i%7) // 0..6 outside, 127..133 inside.
	}
	soft.Pix[0] = 255
	thresholded, nonBinary := PreprocessMask(soft, 40)
	assert.True(t, nonBinary)
	requireBinary(t, thresholded)
	assert.InDelta(t, mean(mask), mean(thresholded), 0.01)

	// An empty mask is binary and empty.
	empty, nonBinary := PreprocessMask(image.NewGray(image.Rect(0, 0, 9, 9)), 4)
	assert.False(t, nonBinary)
	assert.Equal(t, 0.0, mean(empty))
}

func TestDecodeFileFormats(t *testing.T) {
	dir := t.TempDir()
	src := gradient(64, 48)
	want := PreprocessImage(src, 16)

	// 8-bit RGB JPEG, 8-bit RGB PNG, 16-bit gray PNG and paletted PNG.
	writeJPEG(t, filepath.Join(dir, "rgb.jpg"), src)
	writePNG(t, filepath.Join(dir, "rgb.png"), src)
	writePNG(t, filepath.Join(dir, "gray16.png"), copyAs(image.NewGray16(src.Bounds()), src))
	palette := color.Palette{}
	for i := range 256 {
		palette = append(palette, color.Gray{uint8(i)})
	}
	gray := copyAs(image.NewGray(src.Bounds()), src)
	writePNG(t, filepath.Join(dir, "pal.png"), copyAs(image.NewPaletted(src.Bounds(), palette), gray))
	writeJPEG(t, filepath.Join(dir, "gray.jpg"), gray)

	for _, name := range []string{"rgb.jpg", "rgb.png", "gray16.png", "pal.png", "gray.jpg"} {
		gray, w, h, err := LoadImageFile(filepath.Join(dir, name), 16)
		require.NoError(t, err, name)
		assert.Equal(t, []int{64, 48}, []int{w, h}, name)
		assert.InDeltaSlice(t, want, gray, 0.03, name)
	}
}

func TestDecodeFileBadFiles(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.jpg")
	writeJPEG(t, good, gradient(64, 64))
	data, err := os.ReadFile(good)
	require.NoError(t, err)

	for name, contents := range map[string][]byte{
		"truncated.jpg": data[:len(data)/2],
		"header.jpg":    data[:20],
		"empty.png":     nil,
		"text.png":      []byte("this is not an image"),
	} {
		path := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(path, contents, 0o644))
		_, err := DecodeFile(path)
		require.Error(t, err, name)
		assert.Contains(t, err.Error(), path)
	}

	_, err = DecodeFile(filepath.Join(dir, "missing.png"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "missing.png")
}

func TestDecodeFileRefusesHugeImages(t *testing.T) {
	path := filepath.Join(t.TempDir(), "huge.png")
	require.NoError(t, os.WriteFile(path, hugePNGHeader(20000, 10000), 0o644))

	// The header alone decides: nothing is allocated for 200 megapixels.
	start := time.Now()
	_, err := DecodeFile(path)
	require.Error(t, err)
	assert.Contains(t, err.Error(), path)
	assert.Contains(t, err.Error(), "20000x10000")
	assert.Contains(t, err.Error(), "megapixels")
	_, err = DecodeConfigFile(path)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "megapixels")
	t.Logf("refused in %s", time.Since(start))

	// Just under the limit is accepted by the header check, and then fails
	// for the missing pixel data instead.
	require.NoError(t, os.WriteFile(path, hugePNGHeader(10000, 10000), 0o644))
	_, err = DecodeConfigFile(path)
	require.NoError(t, err)
}

func TestPreprocessImageLargeSources(t *testing.T) {
	// Sources far larger than the target are box-averaged first; that must
	// agree with filtering the full image directly, including when the
	// blocks do not divide the image.
	for _, dims := range [][2]int{{1000, 700}, {517, 301}, {2816, 2112}} {
		src := gradient(dims[0], dims[1])
		got := PreprocessImage(src, 32)
		direct := resize(lumaRows(src), dims[0], dims[1], 32, draw.CatmullRom)
		assert.InDeltaSlice(t, direct, got, 0.02, "%v", dims)
	}
}

package main

import (
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"os"
	"path/filepath"
	"testing"

	"github.com/mednca/mednca/isic"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// writeLesionPicture writes a w x h picture of a dark ellipse on skin
// tones, as PNG or JPEG by the extension of path.
func writeLesionPicture(t *testing.T, path string, w, h int) {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			dx, dy := float64(x-w/2)/float64(w/3), float64(y-h/2)/float64(h/3)
			c := color.RGBA{R: 225, G: 180, B: 160, A: 255}
			if dx*dx+dy*dy < 1 {
				c = color.RGBA{R: 90, G: 50, B: 40, A: 255}
			}
			img.SetRGBA(x, y, c)
		}
	}
	f, err := os.Create(path)
	require.NoError(t, err)
	defer f.Close()
	if filepath.Ext(path) == ".png" {
		require.NoError(t, png.Encode(f, img))
	} else {
		require.NoError(t, jpeg.Encode(f, img, nil))
	}
}

// decodePNG reads a PNG written by predict.
func decodePNG(t *testing.T, path string) image.Image {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	img, err := png.Decode(f)
	require.NoError(t, err, path)
	return img
}

func TestPredictWritesPicturesAtOriginalSize(t *testing.T) {
	run := tinyRun(t)
	in := t.TempDir()
	wide := filepath.Join(in, "wide.png")
	tall := filepath.Join(in, "tall.jpg")
	broken := filepath.Join(in, "broken.jpg")
	writeLesionPicture(t, wide, 50, 40)
	writeLesionPicture(t, tall, 37, 61)
	require.NoError(t, os.WriteFile(broken, []byte("not a JPEG"), 0o644))
	out := filepath.Join(t.TempDir(), "new", "predictions")

	// The unreadable and the missing image fail the command, but only after
	// the others are written.
	missing := filepath.Join(in, "missing.png")
	status, stdout, stderr := runMednca(t, "predict", "--checkpoint", run, wide, broken, tall, missing,
		"--out", out, "--ensemble", "2", "--backend", "go")
	assert.Equal(t, 1, status)
	assert.Contains(t, stderr, "mednca predict: "+broken+": not a JPEG or PNG image")
	assert.Contains(t, stderr, "open "+missing+": no such file or directory")
	assert.Contains(t, stderr, "2 of 4 images failed: "+broken+", "+missing)
	assert.Contains(t, stdout, wide+": 50x40, lesion ")
	assert.Contains(t, stdout, tall+": 37x61, lesion ")

	for name, size := range map[string]image.Point{"wide": {50, 40}, "tall": {37, 61}} {
		mask := decodePNG(t, filepath.Join(out, name+"_mask.png"))
		require.Equal(t, size, mask.Bounds().Size(), name)
		gray, ok := mask.(*image.Gray)
		require.True(t, ok, "%s mask is %T, expected 8-bit gray", name, mask)
		for _, v := range gray.Pix {
			require.True(t, v == 0 || v == 255, "%s mask has value %d", name, v)
		}
		for _, suffix := range []string{"_overlay.png", "_uncertainty.png"} {
			assert.Equal(t, size, decodePNG(t, filepath.Join(out, name+suffix)).Bounds().Size(), name+suffix)
		}
	}
	_, err := os.Stat(filepath.Join(out, "broken_mask.png"))
	assert.True(t, os.IsNotExist(err), "no pictures for the broken image")
}

func TestPredictBadArguments(t *testing.T) {
	dir := t.TempDir()
	picture := filepath.Join(dir, "a.png")
	writeLesionPicture(t, picture, 20, 20)
	requireFails(t, "predict", "--checkpoint is required", picture, "--out", dir)
	requireFails(t, "predict", "--out is required", "--checkpoint", dir, picture)
	requireFails(t, "predict", "no image given", "--checkpoint", dir, "--out", dir)
	requireFails(t, "predict", "--ensemble 0: must be at least 1", "--checkpoint", dir, "--out", dir,
		"--ensemble", "0", picture)
	requireFails(t, "predict", "flag provided but not defined: -threshold", "--threshold", "0.3", picture)
	requireFails(t, "predict", "no checkpoint in "+dir, "--checkpoint", dir, "--out", dir, picture)
}

func TestPredictNeverOverwritesInputs(t *testing.T) {
	run := tinyRun(t)
	dir := t.TempDir()
	picture := filepath.Join(dir, "a.png")
	lookalike := filepath.Join(dir, "a_mask.png")
	writeLesionPicture(t, picture, 20, 20)
	writeLesionPicture(t, lookalike, 20, 20)
	before, err := os.ReadFile(lookalike)
	require.NoError(t, err)

	// a.png's mask would be written over the input a_mask.png: refused.
	status, _, stderr := runMednca(t, "predict", "--checkpoint", run, "--out", dir, "--ensemble", "1",
		"--backend", "go", picture, lookalike)
	assert.Equal(t, 1, status)
	assert.Contains(t, stderr, picture+": its output "+lookalike+" would overwrite an input image")
	after, err := os.ReadFile(lookalike)
	require.NoError(t, err)
	assert.Equal(t, before, after)
	requirePNG(t, filepath.Join(dir, "a_mask_mask.png"))

	// Two inputs with the same name would write the same pictures.
	other := filepath.Join(t.TempDir(), "a.png")
	writeLesionPicture(t, other, 20, 20)
	status, _, stderr = runMednca(t, "predict", "--checkpoint", run, "--out", t.TempDir(), "--ensemble", "1",
		"--backend", "go", picture, other)
	assert.Equal(t, 1, status)
	assert.Contains(t, stderr, other+" has the same name as "+picture)
}

func TestBilinearResize(t *testing.T) {
	// A 2x2 map enlarged to 4x4: the outer pixels keep the corner values
	// and the inner ones interpolate between them.
	up := newBilinear(2, 4, 4)
	v := []float32{0, 1, 2, 3}
	got := make([]float32, 16)
	for y := range 4 {
		for x := range 4 {
			got[y*4+x] = up.at(v, x, y)
		}
	}
	assert.InDeltaSlice(t, []float32{
		0, 0.25, 0.75, 1,
		0.5, 0.75, 1.25, 1.5,
		1.5, 1.75, 2.25, 2.5,
		2, 2.25, 2.75, 3,
	}, got, 1e-6)

	// At the same size the map is unchanged.
	same := newBilinear(2, 2, 2)
	for i, want := range v {
		assert.InDelta(t, want, same.at(v, i%2, i/2), 1e-6)
	}

	// Thresholding counts the enlarged pixels: 7 of the 16 are above 1.6.
	mask, fraction := up.threshold(v, 1.6)
	assert.InDelta(t, 7.0/16, fraction, 1e-9)
	assert.Equal(t, uint8(0), mask.GrayAt(0, 2).Y)
	assert.Equal(t, uint8(255), mask.GrayAt(1, 2).Y)
}

// originalISICDir returns the folder of full-size ISIC images, from
// $MEDNCA_ISIC_ORIGINAL_DIR or ../../shared/isic2018-original, or skips
// the test when it is absent.
func originalISICDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("MEDNCA_ISIC_ORIGINAL_DIR")
	if dir == "" {
		dir = filepath.Join("..", "..", "..", "shared", "isic2018-original")
	}
	images := filepath.Join(dir, "ISIC2018_Task1-2_Training_Input")
	if _, err := os.Stat(images); err != nil {
		t.Skipf("full-size ISIC sample not found in %q (set MEDNCA_ISIC_ORIGINAL_DIR): %v", dir, err)
	}
	return images
}

func TestPredictOnISICOriginal(t *testing.T) {
	run := tinyRun(t)
	images := originalISICDir(t)
	input := filepath.Join(images, "ISIC_0000000.jpg")
	want, err := isic.DecodeConfigFile(input)
	require.NoError(t, err)

	// A dermoscopy photograph gets pictures at its own, non-square size.
	out := t.TempDir()
	status, stdout, stderr := runMednca(t, "predict", "--checkpoint", run, "--out", out, "--ensemble", "2",
		"--backend", "go", input)
	require.Equal(t, 0, status, stderr)
	assert.Contains(t, stdout, fmt.Sprintf("%s: %dx%d, lesion ", input, want.Width, want.Height))
	for _, suffix := range predictSuffixes {
		w, h := requirePNG(t, filepath.Join(out, "ISIC_0000000"+suffix))
		assert.Equal(t, [2]int{want.Width, want.Height}, [2]int{w, h}, suffix)
	}
}

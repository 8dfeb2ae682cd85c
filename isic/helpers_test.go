package isic

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"image"
	"image/jpeg"
	"image/png"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// Folder names of the ISIC 2018 training set, as in the official download.
const (
	trainImages = "ISIC2018_Task1-2_Training_Input"
	trainMasks  = "ISIC2018_Task1_Training_GroundTruth"
)

// writePNG encodes img as PNG at path.
func writePNG(t testing.TB, path string, img image.Image) {
	t.Helper()
	var buf bytes.Buffer
	require.NoError(t, png.Encode(&buf, img))
	require.NoError(t, os.WriteFile(path, buf.Bytes(), 0o644))
}

// writeJPEG encodes img as JPEG at path.
func writeJPEG(t testing.TB, path string, img image.Image) {
	t.Helper()
	var buf bytes.Buffer
	require.NoError(t, jpeg.Encode(&buf, img, &jpeg.Options{Quality: 95}))
	require.NoError(t, os.WriteFile(path, buf.Bytes(), 0o644))
}

// syntheticFolder writes n synthetic samples of side size in the official
// layout under a new temporary folder and returns it.
func syntheticFolder(t testing.TB, n, size int) string {
	t.Helper()
	dir := t.TempDir()
	require.NoError(t, WriteSynthetic(dir, n, 7, SyntheticOptions{Size: size, Hair: true}))
	return dir
}

// hugePNGHeader returns the start of a PNG file whose header claims w x h
// pixels, with a valid checksum, and no pixel data.
func hugePNGHeader(w, h uint32) []byte {
	var b bytes.Buffer
	b.WriteString("\x89PNG\r\n\x1a\n")
	chunk := binary.BigEndian.AppendUint32(nil, w)
	chunk = binary.BigEndian.AppendUint32(chunk, h)
	chunk = append(chunk, 8, 0, 0, 0, 0) // 8-bit gray, no interlace.
	typed := append([]byte("IHDR"), chunk...)
	b.Write(binary.BigEndian.AppendUint32(nil, uint32(len(chunk))))
	b.Write(typed)
	b.Write(binary.BigEndian.AppendUint32(nil, crc32.ChecksumIEEE(typed)))
	return b.Bytes()
}

// isicDir returns the folder named by the environment variable env, else
// the shared copy beside the repository, or skips the test when neither
// exists.
func isicDir(t testing.TB, env, shared string) string {
	t.Helper()
	dir := os.Getenv(env)
	if dir == "" {
		dir = filepath.Join("..", "..", "shared", shared)
	}
	if _, err := os.Stat(filepath.Join(dir, trainImages)); err != nil {
		t.Skipf("ISIC data not found in %q (set %s to a folder holding %s): %v",
			dir, env, trainImages, err)
	}
	return dir
}

// disk returns a size x size gray image with a white disk of radius r
// centred at (cx, cy) on black.
func disk(size int, cx, cy, r float64) *image.Gray {
	img := image.NewGray(image.Rect(0, 0, size, size))
	for y := range size {
		for x := range size {
			dx, dy := float64(x)+0.5-cx, float64(y)+0.5-cy
			if dx*dx+dy*dy < r*r {
				img.Pix[y*img.Stride+x] = 255
			}
		}
	}
	return img
}

// mean is the mean of values.
func mean(values []float32) float64 {
	var s float64
	for _, v := range values {
		s += float64(v)
	}
	return s / float64(len(values))
}

// requireBinary fails unless every value is 0 or 1.
func requireBinary(t testing.TB, values []float32) {
	t.Helper()
	for i, v := range values {
		if v != 0 && v != 1 {
			require.Failf(t, "mask is not binary", "value %g at %d", v, i)
		}
	}
}

// requireUnit fails unless every value is in [0,1].
func requireUnit(t testing.TB, values []float32) {
	t.Helper()
	for i, v := range values {
		if !(v >= 0 && v <= 1) {
			require.Failf(t, "value out of [0,1]", "value %g at %d", v, i)
		}
	}
}

package isic

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Environment variables that point the tests at real ISIC data; unset, the
// shared copies beside the repository are used when present.
const (
	isicDirEnv         = "MEDNCA_ISIC_DIR"
	isicOriginalDirEnv = "MEDNCA_ISIC_ORIGINAL_DIR"
)

// requirePlausible checks what any ISIC lesion dataset must look like.
func requirePlausible(t *testing.T, d *Dataset) {
	t.Helper()
	requireUnit(t, d.Images)
	requireBinary(t, d.Masks)

	// ISIC lesions cover a fifth to a half of their images on average
	// (more in the older, lower ids); every mask has some lesion, and no
	// image is blank.
	assert.Greater(t, d.LesionFraction(), 0.1)
	assert.Less(t, d.LesionFraction(), 0.5)
	for i := range d.Len() {
		assert.Positive(t, mean(d.Mask(i)), d.IDs[i])
		assert.Greater(t, mean(d.Image(i)), 0.05, d.IDs[i])
	}
}

func TestLoadISIC2018(t *testing.T) {
	dir := isicDir(t, isicDirEnv, "isic2018")
	cache := t.TempDir()

	// A cold load of all 2,194 pairs takes tens of seconds on two busy
	// cores; -short loads the first 200 only.
	opts := LoadOptions{CacheDir: cache}
	want := 2194
	if testing.Short() {
		opts.MaxPairs, want = 200, 200
	}
	cold, err := Load(dir, opts)
	require.NoError(t, err)
	r := cold.Report
	t.Logf("cold load of %d pairs: %s", cold.Len(), r.Duration)
	require.Equal(t, want, cold.Len())
	assert.Equal(t, want, r.Pairs)
	assert.Equal(t, 2194, r.Images)
	assert.Equal(t, 2194, r.Masks)
	assert.Empty(t, r.Rejected)
	assert.Empty(t, r.SizeMismatches)
	assert.Empty(t, r.ImagesWithoutMask)
	assert.Empty(t, r.MasksWithoutImage)
	assert.Empty(t, r.Thresholded, "the shared masks hold only 0 and 255")
	assert.Empty(t, r.Ignored)
	assert.False(t, r.CacheHit)
	assert.Equal(t, "ISIC_0000000", cold.IDs[0])
	requirePlausible(t, cold)

	warm, err := Load(dir, opts)
	require.NoError(t, err)
	t.Logf("warm load: %s", warm.Report.Duration)
	require.True(t, warm.Report.CacheHit)
	assert.Equal(t, cold.IDs, warm.IDs)
	assert.Equal(t, cold.Images, warm.Images)
	assert.Equal(t, cold.Masks, warm.Masks)
}

func TestLoadISIC2018Originals(t *testing.T) {
	dir := isicDir(t, isicOriginalDirEnv, "isic2018-original")
	d, err := Load(dir, LoadOptions{Size: 64, NoCache: true})
	require.NoError(t, err)
	t.Logf("load of %d full-size pairs: %s", d.Len(), d.Report.Duration)
	require.Equal(t, 65, d.Len())
	assert.Empty(t, d.Report.Rejected)
	assert.Empty(t, d.Report.SizeMismatches)
	requirePlausible(t, d)

	// The same lesion, loaded from its original and from the centre-cropped
	// 512 x 512 copy, overlaps when the crop cut little; compare the mask
	// areas loosely since the crop changes the frame.
	shared := isicDir(t, isicDirEnv, "isic2018")
	img, w, h, err := LoadImageFile(shared+"/"+trainImages+"/"+d.IDs[0]+".jpg", 64)
	require.NoError(t, err)
	assert.Equal(t, []int{512, 512}, []int{w, h})
	assert.InDelta(t, mean(d.Image(0)), mean(img), 0.1)
}

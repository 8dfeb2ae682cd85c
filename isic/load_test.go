package isic

import (
	"image"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// load loads dir at size 32 with a private cache and fails on error.
func load(t *testing.T, dir string, opts LoadOptions) *Dataset {
	t.Helper()
	if opts.Size == 0 {
		opts.Size = 32
	}
	if opts.CacheDir == "" {
		opts.CacheDir = t.TempDir()
	}
	d, err := Load(dir, opts)
	require.NoError(t, err)
	return d
}

// loadError loads dir and returns the error it must fail with.
func loadError(t *testing.T, dir string, opts LoadOptions) error {
	t.Helper()
	opts.CacheDir = t.TempDir()
	_, err := Load(dir, opts)
	require.Error(t, err)
	return err
}

func TestLoadSyntheticFolder(t *testing.T) {
	dir := syntheticFolder(t, 10, 64)
	d := load(t, dir, LoadOptions{})

	require.Equal(t, 10, d.Len())
	require.Len(t, d.Images, 10*32*32)
	require.Len(t, d.Masks, 10*32*32)
	requireUnit(t, d.Images)
	requireBinary(t, d.Masks)
	for i, id := range d.IDs {
		assert.Equal(t, SyntheticID(i), id)
	}

	// What comes back from disk is what was drawn: the same masks up to
	// resizing, the same images up to JPEG loss.
	want := Synthetic(10, 7, SyntheticOptions{Size: 32, Hair: true})
	for i := range d.Len() {
		assert.Greater(t, iou(d.Mask(i), want.Mask(i)), 0.85, d.IDs[i])
		assert.InDelta(t, mean(want.Image(i)), mean(d.Image(i)), 0.02, d.IDs[i])
	}

	r := d.Report
	require.NotNil(t, r)
	assert.Equal(t, 10, r.Pairs)
	assert.Equal(t, 10, r.Images)
	assert.Equal(t, 10, r.Masks)
	assert.Empty(t, r.Rejected)
	assert.Empty(t, r.ImagesWithoutMask)
	assert.Empty(t, r.MasksWithoutImage)
	assert.False(t, r.CacheHit)
	assert.Positive(t, r.Duration)
}

// iou is the intersection over union of two binary masks.
func iou(a, b []float32) float64 {
	var inter, union float64
	for i := range a {
		inter += float64(min(a[i], b[i]))
		union += float64(max(a[i], b[i]))
	}
	if union == 0 {
		return 1
	}
	return inter / union
}

func TestLoadEitherFolderOrParent(t *testing.T) {
	dir := syntheticFolder(t, 4, 32)
	want := load(t, dir, LoadOptions{})
	for _, sub := range []string{trainImages, trainMasks} {
		got := load(t, filepath.Join(dir, sub), LoadOptions{})
		assert.Equal(t, want.IDs, got.IDs, sub)
		assert.Equal(t, want.Masks, got.Masks, sub)
	}

	// A folder without its twin beside it says which one is missing.
	require.NoError(t, os.RemoveAll(filepath.Join(dir, trainMasks)))
	err := loadError(t, filepath.Join(dir, trainImages), LoadOptions{})
	assert.Contains(t, err.Error(), "mask")
	assert.Contains(t, err.Error(), dir)
}

// renameLayout renames the two folders of a synthetic set and, when
// maskSuffix is not empty, the masks to end with it.
func renameLayout(t *testing.T, dir, images, masks, suffix string) {
	t.Helper()
	require.NoError(t, os.Rename(filepath.Join(dir, trainImages), filepath.Join(dir, images)))
	require.NoError(t, os.Rename(filepath.Join(dir, trainMasks), filepath.Join(dir, masks)))
	if suffix == "" {
		return
	}
	files, err := filepath.Glob(filepath.Join(dir, masks, "*"+maskSuffix))
	require.NoError(t, err)
	for _, f := range files {
		require.NoError(t, os.Rename(f, strings.TrimSuffix(f, maskSuffix)+suffix))
	}
}

func TestLoadOtherReleasesAndParts(t *testing.T) {
	for _, c := range []struct{ images, masks, suffix string }{
		{"ISIC2018_Task1-2_Validation_Input", "ISIC2018_Task1_Validation_GroundTruth", ""},
		{"ISIC2018_Task1-2_Test_Input", "ISIC2018_Task1_Test_GroundTruth", ""},
		{"ISIC-2017_Training_Data", "ISIC-2017_Training_Part1_GroundTruth", "_Segmentation.png"},
		{"ISIC-2017_Test_v2_Data", "ISIC-2017_Test_v2_Part1_GroundTruth", "_segmentation.png"},
		{"ISBI2016_ISIC_Part1_Training_Data", "ISBI2016_ISIC_Part1_Training_GroundTruth",
			"_Segmentation.png"},
	} {
		dir := syntheticFolder(t, 3, 32)
		renameLayout(t, dir, c.images, c.masks, c.suffix)

		// Files of other tasks and of the operating system are ignored.
		for _, extra := range []string{"ATTRIBUTION.txt", "LICENSE.txt", "SYN_0000000_superpixels.png",
			"._SYN_0000001.jpg"} {
			require.NoError(t, os.WriteFile(filepath.Join(dir, c.images, extra), []byte("x"), 0o644))
		}
		require.NoError(t, os.Mkdir(filepath.Join(dir, "ISIC-2017_Training_Part2_GroundTruth"), 0o755))

		d := load(t, dir, LoadOptions{})
		assert.Equal(t, 3, d.Len(), c.images)
		assert.Len(t, d.Report.Ignored, 4, c.images)
		assert.Empty(t, d.Report.Rejected, c.images)
	}
}

func TestLoadChoosesAmongSets(t *testing.T) {
	dir := syntheticFolder(t, 2, 32)
	other := syntheticFolder(t, 3, 32)
	for _, pair := range [][2]string{
		{trainImages, "ISIC2018_Task1-2_Validation_Input"},
		{trainMasks, "ISIC2018_Task1_Validation_GroundTruth"},
	} {
		require.NoError(t, os.Rename(filepath.Join(other, pair[0]), filepath.Join(dir, pair[1])))
	}

	assert.Equal(t, 2, load(t, dir, LoadOptions{}).Len(), "Training is the default")
	assert.Equal(t, 3, load(t, dir, LoadOptions{Part: "Validation"}).Len())
	err := loadError(t, dir, LoadOptions{Part: "Test"})
	assert.Contains(t, err.Error(), `"Test"`)
	assert.Contains(t, err.Error(), "ISIC2018 Validation")
}

func TestLoadMissingOrEmptyFolder(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "no-such-folder")
	err := loadError(t, missing, LoadOptions{})
	assert.Contains(t, err.Error(), missing)
	assert.Contains(t, err.Error(), trainImages)
	assert.Contains(t, err.Error(), "does not exist")

	empty := t.TempDir()
	err = loadError(t, empty, LoadOptions{})
	assert.Contains(t, err.Error(), empty)
	assert.Contains(t, err.Error(), trainMasks)

	// The two folders exist but hold nothing.
	for _, sub := range []string{trainImages, trainMasks} {
		require.NoError(t, os.Mkdir(filepath.Join(empty, sub), 0o755))
	}
	err = loadError(t, empty, LoadOptions{})
	assert.Contains(t, err.Error(), filepath.Join(empty, trainImages))
	assert.Contains(t, err.Error(), "no images")

	file := filepath.Join(empty, "file.txt")
	require.NoError(t, os.WriteFile(file, nil, 0o644))
	err = loadError(t, file, LoadOptions{})
	assert.Contains(t, err.Error(), "not a folder")
}

func TestLoadSkipsBadFiles(t *testing.T) {
	dir := syntheticFolder(t, 9, 32)
	images, masks := filepath.Join(dir, trainImages), filepath.Join(dir, trainMasks)
	path := func(folder string, i int, suffix string) string {
		return filepath.Join(folder, SyntheticID(i)+suffix)
	}

	// One bad file of each kind; sample 8 stays good.
	require.NoError(t, os.Remove(path(masks, 0, maskSuffix)))
	require.NoError(t, os.Remove(path(images, 1, ".jpg")))
	data, err := os.ReadFile(path(images, 2, ".jpg"))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(path(images, 2, ".jpg"), data[:len(data)/3], 0o644))
	require.NoError(t, os.WriteFile(path(masks, 3, maskSuffix), []byte("garbage"), 0o644))
	writePNG(t, path(masks, 4, maskSuffix), disk(40, 20, 20, 10))
	soft := disk(32, 16, 16, 8)
	soft.Pix[0] = 128
	writePNG(t, path(masks, 5, maskSuffix), soft)
	require.NoError(t, os.WriteFile(path(images, 6, ".jpg"), hugePNGHeader(12000, 9000), 0o644))
	require.NoError(t, os.WriteFile(path(images, 7, ".png"), []byte("duplicate id"), 0o644))

	d := load(t, dir, LoadOptions{})
	r := d.Report
	assert.Equal(t, []string{SyntheticID(5), SyntheticID(7), SyntheticID(8)}, d.IDs)
	assert.Equal(t, 3, r.Pairs)
	assert.Equal(t, []string{path(images, 0, ".jpg")}, r.ImagesWithoutMask)
	assert.Equal(t, []string{path(masks, 1, maskSuffix)}, r.MasksWithoutImage)
	assert.Equal(t, []string{path(masks, 5, maskSuffix)}, r.Thresholded)

	rejected := map[string]string{}
	for _, rej := range r.Rejected {
		rejected[rej.File] = rej.Reason
	}
	assert.Contains(t, rejected[path(images, 2, ".jpg")], "truncated")
	assert.Contains(t, rejected[path(masks, 3, maskSuffix)], "not a JPEG or PNG")
	assert.Contains(t, rejected[path(images, 6, ".jpg")], "12000x9000")
	assert.Contains(t, rejected[path(images, 7, ".png")], "same id")
	assert.Len(t, rejected, 4)

	require.Len(t, r.SizeMismatches, 1)
	m := r.SizeMismatches[0]
	assert.Equal(t, SyntheticID(4), m.ID)
	assert.Equal(t, image.Pt(32, 32), m.Image)
	assert.Equal(t, image.Pt(40, 40), m.Mask)
	assert.Contains(t, m.String(), "32x32")
	assert.Contains(t, m.String(), "40x40")
}

func TestLoadNothingUsable(t *testing.T) {
	dir := syntheticFolder(t, 2, 32)
	for i := range 2 {
		require.NoError(t, os.WriteFile(filepath.Join(dir, trainImages, SyntheticID(i)+".jpg"),
			[]byte("broken"), 0o644))
	}
	err := loadError(t, dir, LoadOptions{})
	assert.Contains(t, err.Error(), "no usable")
	assert.Contains(t, err.Error(), SyntheticID(0)+".jpg")

	// Images and masks that never share an id.
	require.NoError(t, os.RemoveAll(filepath.Join(dir, trainImages)))
	require.NoError(t, os.Mkdir(filepath.Join(dir, trainImages), 0o755))
	writeJPEG(t, filepath.Join(dir, trainImages, "other.jpg"), disk(32, 1, 1, 1))
	err = loadError(t, dir, LoadOptions{})
	assert.Contains(t, err.Error(), "unpaired")
}

func TestLoadOptions(t *testing.T) {
	dir := syntheticFolder(t, 5, 48)
	all := load(t, dir, LoadOptions{NoCache: true})
	assert.Equal(t, 32, all.Size)
	assert.Empty(t, all.Report.CacheFile)

	// One worker gives exactly what all cores give, with progress reports.
	var progress []int
	one := load(t, dir, LoadOptions{NoCache: true, Workers: 1, Progress: func(done, total int) {
		assert.Equal(t, 5, total)
		progress = append(progress, done)
	}})
	assert.Equal(t, all.Images, one.Images)
	assert.Equal(t, all.Masks, one.Masks)
	assert.Equal(t, []int{1, 2, 3, 4, 5}, progress)

	first := load(t, dir, LoadOptions{MaxPairs: 2, Size: 20})
	assert.Equal(t, all.IDs[:2], first.IDs)
	assert.Equal(t, 20, first.Size)
	assert.Len(t, first.Images, 2*20*20)

	_, err := Load(dir, LoadOptions{Size: -3})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "-3")
}

func TestLoadCache(t *testing.T) {
	dir := syntheticFolder(t, 6, 32)
	cacheDir := t.TempDir()
	opts := LoadOptions{CacheDir: cacheDir, Size: 16}

	cold := load(t, dir, opts)
	require.False(t, cold.Report.CacheHit)
	require.FileExists(t, cold.Report.CacheFile)
	assert.Equal(t, cacheDir, filepath.Dir(cold.Report.CacheFile))

	// A second load reads the same tensors and the same report back.
	warm := load(t, dir, opts)
	require.True(t, warm.Report.CacheHit)
	assert.Equal(t, cold.IDs, warm.IDs)
	assert.Equal(t, cold.Images, warm.Images)
	assert.Equal(t, cold.Masks, warm.Masks)
	assert.Equal(t, cold.Report.Pairs, warm.Report.Pairs)

	// Another size has its own cache.
	other := load(t, dir, LoadOptions{CacheDir: cacheDir, Size: 8})
	assert.False(t, other.Report.CacheHit)
	assert.NotEqual(t, cold.Report.CacheFile, other.Report.CacheFile)
	assert.True(t, load(t, dir, opts).Report.CacheHit)

	// A changed file makes the cache stale.
	img := filepath.Join(dir, trainImages, SyntheticID(0)+".jpg")
	later := time.Now().Add(time.Hour)
	require.NoError(t, os.Chtimes(img, later, later))
	assert.False(t, load(t, dir, opts).Report.CacheHit)
	assert.True(t, load(t, dir, opts).Report.CacheHit)

	// A damaged or truncated cache is rebuilt, with the same result.
	cache := cold.Report.CacheFile
	data, err := os.ReadFile(cache)
	require.NoError(t, err)
	for _, damaged := range [][]byte{
		append(append([]byte{}, data[:len(data)/2]...), data[len(data)/2]^0xff),
		data[:len(data)-100],
		[]byte("junk"),
	} {
		require.NoError(t, os.WriteFile(cache, damaged, 0o644))
		again := load(t, dir, opts)
		assert.False(t, again.Report.CacheHit)
		assert.Equal(t, cold.Images, again.Images)
		assert.True(t, load(t, dir, opts).Report.CacheHit)
	}

	// No temporary file is left behind.
	entries, err := os.ReadDir(cacheDir)
	require.NoError(t, err)
	for _, e := range entries {
		assert.NotContains(t, e.Name(), ".tmp")
	}
}

func TestLoadCacheDirFromEnvironment(t *testing.T) {
	dir := syntheticFolder(t, 2, 32)
	env := t.TempDir()
	t.Setenv(CacheDirEnv, env)
	got, err := DefaultCacheDir()
	require.NoError(t, err)
	assert.Equal(t, env, got)

	d, err := Load(dir, LoadOptions{Size: 16})
	require.NoError(t, err)
	assert.Equal(t, env, filepath.Dir(d.Report.CacheFile))

	// An unwritable cache folder only costs the cache.
	blocked := filepath.Join(t.TempDir(), "file")
	require.NoError(t, os.WriteFile(blocked, nil, 0o644))
	d, err = Load(dir, LoadOptions{Size: 16, CacheDir: blocked})
	require.NoError(t, err)
	assert.Equal(t, 2, d.Len())
	assert.Empty(t, d.Report.CacheFile)
}

package main

import (
	"image"
	"os"
	"path/filepath"
	"testing"

	"github.com/mednca/mednca/isic"
	"github.com/mednca/mednca/plotting"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// runDataCommand runs `mednca ARGS...` and returns its exit status and what
// it printed on standard output and standard error.
func runDataCommand(t *testing.T, args ...string) (status int, stdout, stderr string) {
	t.Helper()
	dir := t.TempDir()
	outFile, err := os.Create(filepath.Join(dir, "stdout"))
	require.NoError(t, err)
	errFile, err := os.Create(filepath.Join(dir, "stderr"))
	require.NoError(t, err)
	savedOut, savedErr := os.Stdout, os.Stderr
	os.Stdout, os.Stderr = outFile, errFile
	status = runMain(args)
	os.Stdout, os.Stderr = savedOut, savedErr
	require.NoError(t, outFile.Close())
	require.NoError(t, errFile.Close())
	out, err := os.ReadFile(outFile.Name())
	require.NoError(t, err)
	errOut, err := os.ReadFile(errFile.Name())
	require.NoError(t, err)
	return status, string(out), string(errOut)
}

// requireGrid checks that path is a PNG grid of n samples of side size.
func requireGrid(t *testing.T, path string, n, size int) {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	cfg, format, err := image.DecodeConfig(f)
	require.NoError(t, err)
	assert.Equal(t, "png", format)

	// The same grid drawn directly has the same dimensions.
	tiles := make([][]float32, n)
	for i := range tiles {
		tiles[i] = make([]float32, size*size)
	}
	want := plotting.MaskOutlineGrid(tiles, tiles, size, gridColumns(n), make([]string, n)).Bounds()
	assert.Equal(t, want.Dx(), cfg.Width)
	assert.Equal(t, want.Dy(), cfg.Height)
	assert.GreaterOrEqual(t, cfg.Width, gridColumns(n)*size)
}

func TestDataStatsSynthetic(t *testing.T) {
	grid := filepath.Join(t.TempDir(), "grid.png")
	status, out, errOut := runDataCommand(t, "data", "stats", "--synthetic", "6", "--size", "32",
		"--grid", grid)
	require.Equal(t, 0, status, errOut)
	assert.Contains(t, out, "Synthetic lesions: 6 at 32x32")
	assert.Contains(t, out, "Mean lesion fraction: 0.")
	requireGrid(t, grid, 6, 32)
}

func TestDataStatsFolder(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, isic.WriteSynthetic(dir, 8, 3, isic.SyntheticOptions{Size: 48}))
	images := filepath.Join(dir, "ISIC2018_Task1-2_Training_Input")
	masks := filepath.Join(dir, "ISIC2018_Task1_Training_GroundTruth")
	broken := filepath.Join(images, isic.SyntheticID(0)+".jpg")
	require.NoError(t, os.WriteFile(broken, []byte("not a jpeg"), 0o644))
	unpaired := filepath.Join(masks, "LONELY_segmentation.png")
	require.NoError(t, os.WriteFile(unpaired, []byte("x"), 0o644))

	// The grid goes to data_stats.png in the current folder by default, and
	// flags may follow the folder.
	work := t.TempDir()
	t.Chdir(work)
	cache := t.TempDir()
	status, out, errOut := runDataCommand(t, "data", "stats", dir, "--size", "32",
		"--cache-dir", cache)
	require.Equal(t, 0, status, errOut)
	assert.Contains(t, out, "Files found:       8 images, 9 masks")
	assert.Contains(t, out, "Pairs loaded:      7")
	assert.Contains(t, out, "Masks w/o image:   1\n    "+unpaired)
	assert.Contains(t, out, "Rejected files:    1\n    "+broken)
	assert.Contains(t, out, "Thresholded masks: 0")
	assert.Contains(t, out, "Mean lesion fraction: 0.")
	assert.Contains(t, out, "decoded, cached in "+cache)
	requireGrid(t, filepath.Join(work, "data_stats.png"), 7, 32)

	// The second look reads the cache.
	status, out, errOut = runDataCommand(t, "data", "stats", "--size", "32", "--cache-dir", cache,
		"--grid", "", dir)
	require.Equal(t, 0, status, errOut)
	assert.Contains(t, out, "cache hit")
	assert.NotContains(t, out, "Grid of samples")
}

func TestDataStatsBadInput(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "no-such-folder")
	status, _, errOut := runDataCommand(t, "data", "stats", missing)
	assert.Equal(t, 1, status)
	assert.Contains(t, errOut, missing)
	assert.Contains(t, errOut, "ISIC2018_Task1-2_Training_Input")

	// A folder with the layout but nothing usable in it.
	empty := t.TempDir()
	images := filepath.Join(empty, "ISIC2018_Task1-2_Training_Input")
	masks := filepath.Join(empty, "ISIC2018_Task1_Training_GroundTruth")
	require.NoError(t, os.Mkdir(images, 0o755))
	require.NoError(t, os.Mkdir(masks, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(images, "A.jpg"), []byte("broken"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(masks, "A_segmentation.png"), []byte("broken"), 0o644))
	status, _, errOut = runDataCommand(t, "data", "stats", "--no-cache", empty)
	assert.Equal(t, 1, status)
	assert.Contains(t, errOut, "A.jpg")

	for _, args := range [][]string{
		{},
		{"a", "b"},
		{"--size", "0", "dir"},
		{"--synthetic", "3", "dir"},
		{"--synthetic", "-1"},
		{"--samples", "0", "--synthetic", "2"},
		{"--no-such-flag", "dir"},
	} {
		status, _, errOut := runDataCommand(t, append([]string{"data", "stats"}, args...)...)
		assert.Equal(t, 2, status, "%v: %s", args, errOut)
		assert.Contains(t, errOut, "Usage: mednca data stats", "%v", args)
	}

	// A grid that cannot be written names the flag.
	blocked := filepath.Join(t.TempDir(), "file")
	require.NoError(t, os.WriteFile(blocked, nil, 0o644))
	status, _, errOut = runDataCommand(t, "data", "stats", "--synthetic", "2", "--size", "16",
		"--grid", filepath.Join(blocked, "grid.png"))
	assert.Equal(t, 1, status)
	assert.Contains(t, errOut, "--grid")
}

func TestDataStatsOnISICOriginals(t *testing.T) {
	if testing.Short() {
		t.Skip("decodes 65 full-size ISIC images; skipped with -short")
	}
	dir := os.Getenv("MEDNCA_ISIC_ORIGINAL_DIR")
	if dir == "" {
		dir = filepath.Join("..", "..", "..", "shared", "isic2018-original")
	}
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("full-size ISIC sample not found in %q (set MEDNCA_ISIC_ORIGINAL_DIR): %v", dir, err)
	}
	grid := filepath.Join(t.TempDir(), "grid.png")
	status, out, errOut := runDataCommand(t, "data", "stats", "--size", "32", "--no-cache",
		"--grid", grid, "--samples", "4", dir)
	require.Equal(t, 0, status, errOut)
	assert.Contains(t, out, "Pairs loaded:      65")
	assert.Contains(t, out, "Rejected files:    0")
	requireGrid(t, grid, 4, 32)
}

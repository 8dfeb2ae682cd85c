package main

import (
	"encoding/csv"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// readPerImageCSV reads an eval CSV into its header and rows.
func readPerImageCSV(t *testing.T, path string) (header []string, rows [][]string) {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	records, err := csv.NewReader(f).ReadAll()
	require.NoError(t, err)
	require.NotEmpty(t, records)
	return records[0], records[1:]
}

// requireScoresInRange checks that column col of every row is a number in
// [lo, hi].
func requireScoresInRange(t *testing.T, rows [][]string, col int, lo, hi float64) {
	t.Helper()
	for _, row := range rows {
		x, err := strconv.ParseFloat(row[col], 64)
		require.NoError(t, err, "row %v", row)
		require.False(t, math.IsNaN(x), "row %v", row)
		require.True(t, x >= lo && x <= hi, "row %v: column %d = %g outside [%g, %g]", row, col, x, lo, hi)
	}
}

// requirePNG checks that path is a readable PNG and returns its size.
func requirePNG(t *testing.T, path string) (w, h int) {
	t.Helper()
	img := decodePNG(t, path)
	return img.Bounds().Dx(), img.Bounds().Dy()
}

func TestEvalOnFolder(t *testing.T) {
	run := tinyRun(t)
	data := syntheticISIC(t, 7, 48)
	out := filepath.Join(t.TempDir(), "scores")

	// Images of another size are resized to the model's 32x32.
	status, stdout, stderr := runMednca(t, "eval", "--checkpoint", run, "--data", data, "--split", "all",
		"--backend", "go", "--out", out)
	require.Equal(t, 0, status, stderr)
	for _, want := range []string{"Dice:", "IoU:", "ISIC score:", "Loss:", "n:          7"} {
		assert.Contains(t, stdout, want)
	}
	assert.NotContains(t, stdout, "Quality:")
	assert.Contains(t, stderr, "7/7 images")

	header, rows := readPerImageCSV(t, filepath.Join(out, "per_image.csv"))
	assert.Equal(t, []string{"id", "dice", "iou", "loss"}, header)
	require.Len(t, rows, 7)
	assert.Equal(t, "SYN_0000000", rows[0][0])
	requireScoresInRange(t, rows, 1, 0, 1)
	requireScoresInRange(t, rows, 2, 0, 1)
	requireScoresInRange(t, rows, 3, 0, 10)

	// Both galleries are pictures with a row per image (at most 8).
	for _, name := range []string{"worst.png", "gallery.png"} {
		w, h := requirePNG(t, filepath.Join(out, name))
		assert.Greater(t, w, 128, name)
		assert.Greater(t, h, 7*128, name)
	}
	summary, err := os.ReadFile(filepath.Join(out, "summary.txt"))
	require.NoError(t, err)
	assert.Contains(t, string(summary), "ISIC score:")
}

func TestEvalEnsembleInRunFolder(t *testing.T) {
	run := tinyRun(t)

	// Without --data the run's own synthetic data is split as in training,
	// and the results land in the run folder.
	status, stdout, stderr := runMednca(t, "eval", "--checkpoint", filepath.Join(run, "checkpoints"),
		"--split", "validation", "--ensemble", "3", "--backend", "go")
	require.Equal(t, 0, status, stderr)
	assert.Contains(t, stdout, "Quality:")
	assert.Contains(t, stdout, "mean of 3 stochastic runs")

	header, rows := readPerImageCSV(t, filepath.Join(run, "eval_validation_ensemble3", "per_image.csv"))
	assert.Equal(t, []string{"id", "dice", "iou", "loss", "quality"}, header)
	require.NotEmpty(t, rows)
	requireScoresInRange(t, rows, 1, 0, 1)
	requireScoresInRange(t, rows, 2, 0, 1)
	requireScoresInRange(t, rows, 4, 0, math.MaxFloat64)
}

func TestEvalBadArguments(t *testing.T) {
	dir := t.TempDir()
	requireFails(t, "eval", "--checkpoint is required")
	requireFails(t, "eval", "flag provided but not defined: -bogus", "--checkpoint", dir, "--bogus")
	requireFails(t, "eval", "--ensemble 0: must be at least 1", "--checkpoint", dir, "--ensemble", "0")
	requireFails(t, "eval", `--split "testing": expected one of`, "--checkpoint", dir, "--split", "testing")
	requireFails(t, "eval", "--data "+filepath.Join(dir, "nowhere")+": not a folder", "--checkpoint", dir,
		"--data", filepath.Join(dir, "nowhere"))
	requireFails(t, "eval", "unexpected argument", "--checkpoint", dir, "image.jpg")

	missing := filepath.Join(dir, "no-such-run")
	requireFails(t, "eval", "checkpoint "+missing, "--checkpoint", missing)
	requireFails(t, "eval", "no checkpoint in "+dir, "--checkpoint", dir)

	corrupt := filepath.Join(dir, "broken.bin")
	require.NoError(t, os.WriteFile(corrupt, []byte("this is not a checkpoint at all"), 0o644))
	requireFails(t, "eval", "checkpoint "+corrupt+" is not a valid MedNCA checkpoint", "--checkpoint", corrupt)
}

func TestEvalTruncatedCheckpoint(t *testing.T) {
	run := tinyRun(t)
	good, err := os.ReadFile(filepath.Join(run, "checkpoints", "best.bin"))
	require.NoError(t, err)
	truncated := filepath.Join(t.TempDir(), "truncated.bin")
	require.NoError(t, os.WriteFile(truncated, good[:len(good)/2], 0o644))
	requireFails(t, "eval", "truncated or damaged", "--checkpoint", truncated)
}

func TestDefaultEvalDir(t *testing.T) {
	run := t.TempDir()
	require.NoError(t, os.Mkdir(filepath.Join(run, "checkpoints"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(run, "config.txt"), nil, 0o644))
	ckpt := filepath.Join(run, "checkpoints", "best.bin")
	assert.Equal(t, filepath.Join(run, "eval_test"), defaultEvalDir(ckpt, "test", 1))
	assert.Equal(t, filepath.Join(run, "eval_all_ensemble4"), defaultEvalDir(ckpt, "all", 4))

	// A checkpoint outside a run folder writes into the working folder.
	loose := filepath.Join(t.TempDir(), "model.bin")
	assert.Equal(t, "eval_test", defaultEvalDir(loose, "test", 1))
}

package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/mednca/mednca/nca"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// tinyTrainArgs are the key=value settings of a training run that takes a
// few seconds on the pure-Go backend.
var tinyTrainArgs = []string{"size=32", "patch=16", "steps1=4", "steps2=4", "hidden=16", "synthetic=40",
	"epochs=1", "batch=4", "scale=4", "gallery=2"}

func TestTrainCommandWritesRun(t *testing.T) {
	if testing.Short() {
		t.Skip("trains a model; skipped with -short")
	}
	out := t.TempDir()
	args := append([]string{"train", "--backend", "go", "--out", out}, tinyTrainArgs...)
	status, stdout, stderr := runMednca(t, args...)
	require.Equal(t, 0, status, "stderr: %s", stderr)
	assert.Contains(t, stderr, "Backend: go")
	assert.Contains(t, stdout, "Best validation Dice")

	runs, err := filepath.Glob(filepath.Join(out, "training_*"))
	require.NoError(t, err)
	require.Len(t, runs, 1)
	for _, name := range []string{"config.txt", "metrics.csv", "curves.png", "checkpoints/best.bin"} {
		assert.FileExists(t, filepath.Join(runs[0], name))
	}

	// Resuming to a later epoch continues the same folder.
	status, _, stderr = runMednca(t, "train", "--backend", "go", "--resume", runs[0], "epochs=2")
	require.Equal(t, 0, status, "stderr: %s", stderr)
	assert.Contains(t, stderr, "Resuming")
	assert.FileExists(t, filepath.Join(runs[0], "gallery", "epoch-002.png"))
}

func TestTrainCommandResumesToTheRunsOwnTarget(t *testing.T) {
	if testing.Short() {
		t.Skip("trains a model; skipped with -short")
	}
	out := t.TempDir()
	args := append([]string{"train", "--backend", "go", "--out", out}, tinyTrainArgs...)
	status, _, stderr := runMednca(t, append(args, "epochs=3", "time_limit=1ns")...)
	require.Equal(t, 0, status, "stderr: %s", stderr)
	assert.Contains(t, stderr, "time limit 1ns reached")
	assert.Contains(t, stderr, "time_limit=2ns`")
	runs, err := filepath.Glob(filepath.Join(out, "training_*"))
	require.NoError(t, err)
	require.Len(t, runs, 1)

	// The run has used up its time limit: resuming as it was is refused.
	status, _, stderr = runMednca(t, "train", "--backend", "go", "--resume", runs[0])
	require.Equal(t, 1, status)
	assert.Contains(t, stderr, "past time_limit=1ns")

	// Other settings stay the run's.
	status, _, stderr = runMednca(t, "train", "--backend", "go", "--resume", runs[0], "lr=0.1")
	require.Equal(t, 1, status)
	assert.Contains(t, stderr, "lr=0.1 cannot change on a resumed run")

	// Without a limit it trains on to its own epochs=3, not the preset's.
	status, _, stderr = runMednca(t, "train", "--backend", "go", "--resume", runs[0], "time_limit=0")
	require.Equal(t, 0, status, "stderr: %s", stderr)
	assert.FileExists(t, filepath.Join(runs[0], "gallery", "epoch-003.png"))
	assert.NoFileExists(t, filepath.Join(runs[0], "gallery", "epoch-004.png"))
}

func TestTrainCommandKeysAndConfig(t *testing.T) {
	status, stdout, _ := runMednca(t, "train", "--keys")
	require.Equal(t, 0, status)
	for _, key := range []string{"lr = 0.003", "steps1 = 16", "fire_rate = 0.5", "batch = 8"} {
		assert.Contains(t, stdout, key)
	}

	// A config.txt written by --keys loads back as a starting point.
	path := filepath.Join(t.TempDir(), "config.txt")
	require.NoError(t, os.WriteFile(path, []byte(stdout), 0o644))
	status, stdout, _ = runMednca(t, "train", "--config", path, "--keys", "lr=0.01")
	require.Equal(t, 0, status)
	cfg, err := nca.LoadConfig(path)
	require.NoError(t, err)
	assert.Equal(t, nca.QuickConfig(), cfg)
}

func TestTrainCommandBadInput(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "no-such-folder")
	badConfig := filepath.Join(t.TempDir(), "config.txt")
	require.NoError(t, os.WriteFile(badConfig, []byte("lr = fast\n"), 0o644))
	cases := []struct {
		name   string
		args   []string
		status int
		want   string
	}{
		{"unknown key", []string{"learning_rate=1"}, 1, `unknown hyperparameter "learning_rate"`},
		{"bad value", []string{"batch=eight"}, 1, "batch"},
		{"not key=value", []string{"lr"}, 1, "expected key=value"},
		{"invalid value", []string{"fire_rate=2"}, 1, "fire_rate=2"},
		{"size not multiple of scale", []string{"size=33"}, 1, "multiple of scale"},
		{"unknown flag", []string{"--epochz", "3"}, 2, "flag provided but not defined"},
		{"missing data folder", []string{"--data", missing, "epochs=1"}, 1, missing},
		{"missing resume folder", []string{"--resume", missing}, 1, missing},
		{"bad preset", []string{"--preset", "huge"}, 1, `--preset "huge"`},
		{"bad backend", []string{"--backend", "tpu"}, 1, "tpu"},
		{"bad config file", []string{"--config", badConfig}, 1, badConfig},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out := t.TempDir()
			args := append([]string{"train", "--out", out}, c.args...)
			status, _, stderr := runMednca(t, args...)
			assert.Equal(t, c.status, status, "stderr: %s", stderr)
			assert.Contains(t, stderr, c.want)

			// A failed start leaves no half-made run folder behind.
			runs, _ := filepath.Glob(filepath.Join(out, "training_*"))
			assert.Empty(t, runs)
		})
	}
}

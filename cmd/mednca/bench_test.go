package main

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// tinyBench is a benchmark small enough for a test.
var tinyBench = []string{"bench", "--backend", "go", "--size", "32", "--batch", "2", "--steps1", "2",
	"--steps2", "2", "--patch", "16", "--reps", "2"}

func TestBenchPrintsJSON(t *testing.T) {
	if testing.Short() {
		t.Skip("compiles and runs training steps; skipped with -short")
	}
	status, stdout, stderr := runMednca(t, slices.Concat(tinyBench, []string{"hidden=16"})...)
	require.Equal(t, 0, status, stderr)

	var r benchReport
	require.NoError(t, json.Unmarshal([]byte(stdout), &r), stdout)
	assert.Equal(t, "go", r.Backend)
	assert.NotEmpty(t, r.BackendDescription)
	assert.NotEmpty(t, r.GoVersion)
	assert.Positive(t, r.CPUs)
	assert.Equal(t, benchConfig{Size: 32, Batch: 2, Patch: 16, Steps1: 2, Steps2: 2, Scale: 4, Channels: 16,
		Hidden: 16, FireRate: 0.5}, r.Config)
	assert.Positive(t, r.Parameters)

	// Two timed reps of each, after a first call timed on its own.
	require.Len(t, r.TrainIterS, 2)
	require.Len(t, r.InferS, 2)
	for _, x := range append(append([]float64{r.TrainFirstS, r.InferFirstS}, r.TrainIterS...), r.InferS...) {
		assert.Positive(t, x)
	}
	assert.InDelta(t, (r.TrainIterS[0]+r.TrainIterS[1])/2, r.TrainIterSMedian, 1e-12)
	assert.Positive(t, r.InferSMedian)
	assert.InDelta(t, max(r.TrainFirstS-r.TrainIterSMedian, 0), r.TrainCompileS, 1e-12)
	assert.Positive(t, r.PeakRSSBytes)
	assert.True(t, r.StepFinite)
	assert.Contains(t, stderr, "bench go: size 32, batch 2, patch 16, steps 2+2: training step ")
}

func TestBenchBadArguments(t *testing.T) {
	status, _, stderr := runMednca(t, slices.Concat(tinyBench, []string{"bogus=1"})...)
	assert.Equal(t, 1, status)
	assert.Contains(t, stderr, `unknown hyperparameter "bogus"`)

	status, _, stderr = runMednca(t, slices.Concat(tinyBench, []string{"--patch", "17"})...)
	assert.Equal(t, 1, status)
	assert.Contains(t, stderr, "patch=17: must be 0 or a multiple of scale=4")

	status, _, stderr = runMednca(t, "bench", "--reps", "0")
	assert.Equal(t, 1, status)
	assert.Contains(t, stderr, "--reps 0: must be at least 1")

	status, _, _ = runMednca(t, "bench", "--warmup", "3")
	assert.Equal(t, 2, status)
}

func TestMedian(t *testing.T) {
	assert.Equal(t, 2.0, median([]float64{3, 1, 2}))
	assert.Equal(t, 2.5, median([]float64{4, 1, 3, 2}))
	assert.Equal(t, 0.0, median(nil))
}

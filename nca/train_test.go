package nca

import (
	"context"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mednca/mednca/plotting"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// trainChildEnv, when set to a folder, makes the test binary train into it
// instead of running tests: TestResumeAfterKill kills that process.
const trainChildEnv = "MEDNCA_TEST_TRAIN_CHILD"

func TestMain(m *testing.M) {
	if dir := os.Getenv(trainChildEnv); dir != "" {
		os.Exit(trainChild(dir))
	}
	os.Exit(m.Run())
}

// childConfig is the config of the training process that gets killed:
// many short epochs, so checkpoints come often.
func childConfig() Config {
	c := tinyConfig()
	c.Epochs = 1000
	return c
}

func trainChild(dir string) int {
	_, err := Train(context.Background(), childConfig(), TrainOptions{OutputRoot: dir, Progress: io.Discard})
	if err != nil {
		return 1
	}
	return 0
}

func trainTiny(t *testing.T, cfg Config, opts TrainOptions) *RunResult {
	t.Helper()
	if opts.OutputRoot == "" {
		opts.OutputRoot = t.TempDir()
	}
	if opts.Progress == nil {
		opts.Progress = io.Discard
	}
	opts.Backend = testBackend(t)
	result, err := Train(context.Background(), cfg, opts)
	require.NoError(t, err)
	return result
}

func TestTrainWritesRunFolder(t *testing.T) {
	cfg := tinyConfig()
	result := trainTiny(t, cfg, TrainOptions{})
	require.Equal(t, cfg.Epochs, result.State.Epoch)

	for _, name := range []string{"config.txt", "metrics.csv", "curves.png", "checkpoints/best.bin",
		"gallery/epoch-001.png", "gallery/epoch-002.png"} {
		assert.FileExists(t, filepath.Join(result.Dir, name))
	}
	loaded, err := LoadConfig(filepath.Join(result.Dir, "config.txt"))
	require.NoError(t, err)
	assert.Equal(t, cfg, loaded, "config.txt must load back to the same config")

	rows, err := plotting.ReadMetricsCSV(filepath.Join(result.Dir, "metrics.csv"))
	require.NoError(t, err)
	require.Len(t, rows, cfg.Epochs)
	for i, r := range rows {
		assert.Equal(t, float64(i+1), r.Epoch)
		assert.False(t, math.IsNaN(r.ValDice), "epoch %d has no validation Dice", i+1)
		assert.Greater(t, r.LR, 0.0)
	}
}

func TestCheckpointRoundTrip(t *testing.T) {
	cfg := tinyConfig()
	cfg.FireRate = 1 // deterministic predictions
	m, err := NewModel(testBackend(t), cfg)
	require.NoError(t, err)
	s, err := NewStepper(m)
	require.NoError(t, err)
	images, masks := syntheticBatch(cfg, 2, 1)
	for range 3 {
		_, err := s.Step(images, masks, 2, 1e-2)
		require.NoError(t, err)
	}
	state := TrainState{Step: 3, Epoch: 1, LearningRate: 5e-4, BestDice: 0.5, BestEpoch: 1}
	path := filepath.Join(t.TempDir(), "ckpt.bin")
	require.NoError(t, m.SaveCheckpoint(path, state))

	loaded, ckpt, err := LoadModel(testBackend(t), path)
	require.NoError(t, err)
	assert.Equal(t, state, ckpt.State)
	assert.Equal(t, cfg, loaded.Config)
	for v := range m.Store.IterVariables() {
		other := loaded.Store.GetVariable(v.Path())
		require.NotNil(t, other, v.Path())
		assert.Equal(t, v.MustValue().Value(), other.MustValue().Value(), v.Path())
	}
	want, err := m.Predict(images, 2)
	require.NoError(t, err)
	got, err := loaded.Predict(images, 2)
	require.NoError(t, err)
	assert.Equal(t, want, got)
}

func TestCorruptCheckpointIsRejected(t *testing.T) {
	cfg := tinyConfig()
	m, err := NewModel(testBackend(t), cfg)
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "ckpt.bin")
	require.NoError(t, m.SaveCheckpoint(path, TrainState{}))
	data, err := os.ReadFile(path)
	require.NoError(t, err)

	truncated := filepath.Join(t.TempDir(), "truncated.bin")
	require.NoError(t, os.WriteFile(truncated, data[:len(data)/2], 0o644))
	_, _, err = LoadModel(testBackend(t), truncated)
	require.ErrorContains(t, err, truncated)
	require.ErrorContains(t, err, "not a valid MedNCA checkpoint")

	_, _, err = LoadModel(testBackend(t), filepath.Join(t.TempDir(), "missing"))
	require.ErrorContains(t, err, "missing")

	// The folder above the run folders gets a pointer to the latest run.
	root := t.TempDir()
	run := filepath.Join(root, "training_20260101_120000")
	require.NoError(t, os.MkdirAll(filepath.Join(run, "checkpoints"), 0o755))
	_, _, err = LoadModel(testBackend(t), root)
	require.ErrorContains(t, err, "pass one of them, for example "+run)
}

func TestInjectedNaNRecovers(t *testing.T) {
	cfg := tinyConfig()
	poisoned := map[int]bool{3: true}
	var reports []StepReport
	result := trainTiny(t, cfg, TrainOptions{
		CorruptBatch: func(step int, images []float32) {
			if poisoned[step] {
				images[0] = float32(math.NaN())
			}
		},
		OnStep: func(r StepReport) { reports = append(reports, r) },
	})
	require.Equal(t, cfg.Epochs, result.State.Epoch)
	require.False(t, reports[2].Result.Finite, "step 3 had a NaN image")
	assert.True(t, reports[1].Result.Finite)
	assert.True(t, reports[3].Result.Finite, "training recovers after the NaN")
	assert.Equal(t, reports[1].LearningRate/2, reports[3].LearningRate, "the learning rate is halved")
	assert.False(t, math.IsNaN(result.Validation.Dice))

	m, _, err := LoadModel(testBackend(t), result.Dir)
	require.NoError(t, err)
	assert.True(t, m.weightsFinite())
}

func TestRepeatedNaNStopsTraining(t *testing.T) {
	cfg := tinyConfig()
	cfg.Epochs = 3
	opts := TrainOptions{
		OutputRoot: t.TempDir(),
		Progress:   io.Discard,
		Backend:    testBackend(t),
		CorruptBatch: func(step int, images []float32) {
			if step > 12 {
				images[5] = float32(math.Inf(1))
			}
		},
	}
	_, err := Train(context.Background(), cfg, opts)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "3 steps in a row")
	assert.Contains(t, err.Error(), "last good checkpoint is")
	assert.Contains(t, err.Error(), "ckpt-")
}

func TestResumeAfterKill(t *testing.T) {
	if testing.Short() {
		t.Skip("starts and kills a training process; skipped with -short")
	}
	root := t.TempDir()
	child := exec.Command(os.Args[0], "-test.run=^$")
	child.Env = append(os.Environ(), trainChildEnv+"="+root)
	require.NoError(t, child.Start())
	defer child.Process.Kill()

	// Wait for the second checkpoint, so the kill lands in the middle of
	// training rather than before it.
	var runDir string
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		matches, _ := filepath.Glob(filepath.Join(root, "training_*", "checkpoints", "ckpt-*.bin"))
		if len(matches) >= 2 {
			runDir = filepath.Dir(filepath.Dir(matches[0]))
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	require.NotEmpty(t, runDir, "the training process wrote no checkpoints")
	require.NoError(t, child.Process.Signal(syscall.SIGKILL))
	_ = child.Wait()

	latest, err := latestCheckpoint(filepath.Join(runDir, "checkpoints"))
	require.NoError(t, err)
	ckpt, err := ReadCheckpoint(latest)
	require.NoError(t, err, "the last checkpoint must survive a kill")
	killedAt := ckpt.State.Epoch
	require.GreaterOrEqual(t, killedAt, 1)

	cfg := childConfig()
	cfg.Epochs = killedAt + 2
	result := trainTiny(t, cfg, TrainOptions{Resume: runDir})
	assert.Equal(t, runDir, result.Dir)
	assert.Equal(t, killedAt+2, result.State.Epoch)
	assert.Greater(t, result.State.Step, ckpt.State.Step)

	rows, err := plotting.ReadMetricsCSV(filepath.Join(runDir, "metrics.csv"))
	require.NoError(t, err)
	require.Len(t, rows, killedAt+2, "each epoch has exactly one metrics row")
	for i, r := range rows {
		assert.Equal(t, float64(i+1), r.Epoch)
	}
	leftovers, _ := filepath.Glob(filepath.Join(runDir, "checkpoints", ".*tmp*"))
	for _, f := range leftovers {
		// A temporary file of an interrupted write is harmless but must not
		// be mistaken for a checkpoint.
		assert.False(t, strings.HasPrefix(filepath.Base(f), checkpointPrefix))
	}
}

func TestEvaluateScoresPerImage(t *testing.T) {
	cfg := tinyConfig()
	m, err := NewModel(testBackend(t), cfg)
	require.NoError(t, err)
	split, err := LoadData(cfg, nil)
	require.NoError(t, err)
	e, err := Evaluate(m, split.Validation, EvalOptions{Ensemble: 3})
	require.NoError(t, err)
	require.Len(t, e.Scores, split.Validation.Len())
	require.Len(t, e.Std, split.Validation.Len())
	for i, s := range e.Scores {
		assert.True(t, s.Dice >= 0 && s.Dice <= 1, "Dice of image %d: %g", i, s.Dice)
		assert.Len(t, e.Probs[i], cfg.ImageSize*cfg.ImageSize)
	}
	// An untrained model leaves the logits at 0: probability 0.5 everywhere.
	assert.InDelta(t, 0.5, e.Probs[0][0], 1e-6)
	assert.Greater(t, e.Summary.Loss, 0.0)
}

func TestResumedRunMatchesUninterrupted(t *testing.T) {
	cfg := tinyConfig()
	straight := trainTiny(t, cfg, TrainOptions{})

	cfg.Epochs = 1
	first := trainTiny(t, cfg, TrainOptions{})
	cfg.Epochs = 2
	resumed := trainTiny(t, cfg, TrainOptions{Resume: first.Dir})

	rowsOf := func(dir string) []plotting.MetricsRow {
		rows, err := plotting.ReadMetricsCSV(filepath.Join(dir, "metrics.csv"))
		require.NoError(t, err)
		for i := range rows {
			rows[i].ElapsedS = 0
		}
		return rows
	}
	assert.Equal(t, rowsOf(straight.Dir), rowsOf(resumed.Dir))
	assert.Equal(t, straight.State.Step, resumed.State.Step)
}

func TestResumePastTimeLimitFails(t *testing.T) {
	cfg := tinyConfig()
	cfg.Epochs = 1
	first := trainTiny(t, cfg, TrainOptions{})

	cfg.Epochs = 2
	cfg.TimeLimit = time.Nanosecond
	_, err := Train(context.Background(), cfg, TrainOptions{Resume: first.Dir, Backend: testBackend(t),
		Progress: io.Discard})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "time_limit=1ns")
	assert.Contains(t, err.Error(), first.Dir)

	rows, err := plotting.ReadMetricsCSV(filepath.Join(first.Dir, "metrics.csv"))
	require.NoError(t, err)
	assert.Len(t, rows, 1, "the refused resume must leave the run's metrics as they were")
}

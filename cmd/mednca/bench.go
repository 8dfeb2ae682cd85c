package main

import (
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"syscall"
	"time"

	"github.com/gomlx/compute"
	"github.com/mednca/mednca/isic"
	"github.com/mednca/mednca/nca"
)

func init() {
	register("bench", "time training steps and inference on a backend; prints JSON", runBench)
}

const benchUsage = `[--backend NAME] [--reps N] [--size N] [--batch B] [--steps1 S] [--steps2 S]
    [--patch P] [key=value ...]

Times one training step (forward, loss, gradients and an Adam update on a
batch of synthetic images) and one inference (a single image, both levels
on the whole image), and prints the results as JSON on standard output and
one line for people on standard error.

The first call of each compiles the computation; its time is reported
separately (train_first_s, infer_first_s), left out of the medians, and its
excess over the median is reported as the compile time (train_compile_s,
infer_compile_s). Other hyperparameters can be set
as key=value, as for mednca train.`

// benchConfig is the part of the hyperparameters that sets the cost of a
// step, as reported in the JSON.
type benchConfig struct {
	Size     int     `json:"size"`
	Batch    int     `json:"batch"`
	Patch    int     `json:"patch"`
	Steps1   int     `json:"steps1"`
	Steps2   int     `json:"steps2"`
	Scale    int     `json:"scale"`
	Channels int     `json:"channels"`
	Hidden   int     `json:"hidden"`
	FireRate float64 `json:"fire_rate"`
}

// benchReport is the JSON that bench prints. Times are in seconds.
type benchReport struct {
	Backend            string      `json:"backend"`
	BackendDescription string      `json:"backend_description"`
	GoVersion          string      `json:"go_version"`
	GoExperiment       string      `json:"goexperiment"`
	GOOS               string      `json:"goos"`
	GOARCH             string      `json:"goarch"`
	CPUs               int         `json:"cpus"`
	GOMAXPROCS         int         `json:"gomaxprocs"`
	Config             benchConfig `json:"config"`
	Parameters         int         `json:"parameters"`
	Reps               int         `json:"reps"`

	// The first call compiles and runs; compile is its excess over the median.
	TrainFirstS      float64   `json:"train_first_s"`
	TrainCompileS    float64   `json:"train_compile_s"`
	TrainIterS       []float64 `json:"train_iter_s"`
	TrainIterSMedian float64   `json:"train_iter_s_median"`
	TrainImagesPerS  float64   `json:"train_images_per_s"`

	InferFirstS   float64   `json:"infer_first_s"`
	InferCompileS float64   `json:"infer_compile_s"`
	InferS        []float64 `json:"infer_s"`
	InferSMedian  float64   `json:"infer_s_median"`
	PeakRSSBytes  int64     `json:"peak_rss_bytes"`

	// Matrix-product throughputs on the same backend, in GFLOP/s, taken
	// after the timings above (and left out of peak_rss_bytes); absent
	// with --kernels=false.
	MatMulPeakGFLOPS float64 `json:"matmul_peak_gflops,omitempty"`
	MatMulPeakSize   int     `json:"matmul_peak_size,omitempty"`
	UpdateRuleGFLOPS float64 `json:"update_rule_gflops,omitempty"`
	UpdateRuleCells  int     `json:"update_rule_cells,omitempty"`
	UpdateRuleOfPeak float64 `json:"update_rule_of_peak,omitempty"`
	TotalSeconds     float64 `json:"total_s"`
	StepFinite       bool    `json:"step_finite"` // the last training step had a finite loss
	LastTrainLoss    float64 `json:"last_train_loss"`
}

func runBench(args []string) error {
	fs := newFlagSet("bench", benchUsage)
	backendName := fs.String("backend", "", backendHelp)
	reps := fs.Int("reps", 5, "timed repetitions of each measurement, after one untimed first call")
	size := fs.Int("size", 128, "image side in pixels")
	batch := fs.Int("batch", 8, "images per training step")
	steps1 := fs.Int("steps1", 48, "steps of level 1")
	steps2 := fs.Int("steps2", 48, "steps of level 2")
	patch := fs.Int("patch", 64, "side of the level-2 training patch (0: whole image)")
	kernels := fs.Bool("kernels", true, "also time a 2048x2048 matrix product and the update rule alone")
	settings, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if *reps < 1 {
		return fmt.Errorf("--reps %d: must be at least 1", *reps)
	}

	cfg := nca.DefaultConfig()
	cfg.ImageSize, cfg.BatchSize, cfg.PatchSize = *size, *batch, *patch
	cfg.Steps1, cfg.Steps2 = *steps1, *steps2
	if err := cfg.Set(settings...); err != nil {
		return fmt.Errorf("%w (run `mednca train --keys` for the list)", err)
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	backend, info, err := nca.NewBackend(*backendName)
	if err != nil {
		return err
	}

	report, err := benchmark(backend, cfg, *reps, *kernels)
	if err != nil {
		return err
	}
	report.Backend, report.BackendDescription = info.Name, info.Description
	out, err := json.MarshalIndent(report, "", "  ")
	if err != nil {
		return err
	}
	fmt.Println(string(out))
	fmt.Fprintf(os.Stderr, "bench %s: size %d, batch %d, patch %d, steps %d+%d: training step %.3fs "+
		"(median of %d; first %.2fs with compilation), inference %.3fs (first %.2fs), peak RSS %.0f MiB\n",
		info.Name, cfg.ImageSize, cfg.BatchSize, cfg.PatchSize, cfg.Steps1, cfg.Steps2, report.TrainIterSMedian,
		report.Reps, report.TrainFirstS, report.InferSMedian, report.InferFirstS,
		float64(report.PeakRSSBytes)/(1<<20))
	if *kernels {
		fmt.Fprintf(os.Stderr, "bench %s: matrix product %dx%d %.0f GFLOP/s, update rule on %d cells %.0f GFLOP/s "+
			"(%.0f%% of that)\n", info.Name, report.MatMulPeakSize, report.MatMulPeakSize, report.MatMulPeakGFLOPS,
			report.UpdateRuleCells, report.UpdateRuleGFLOPS, 100*report.UpdateRuleOfPeak)
	}
	return nil
}

// benchmark builds a fresh model and times its training steps and
// inference calls.
func benchmark(backend compute.Backend, cfg nca.Config, reps int, kernels bool) (*benchReport, error) {
	start := time.Now()
	m, err := nca.NewModel(backend, cfg)
	if err != nil {
		return nil, err
	}
	r := &benchReport{
		GoVersion: runtime.Version(), GoExperiment: goExperiment(), GOOS: runtime.GOOS, GOARCH: runtime.GOARCH,
		CPUs: runtime.NumCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0), Parameters: m.NumParameters(), Reps: reps,
		Config: benchConfig{Size: cfg.ImageSize, Batch: cfg.BatchSize, Patch: cfg.PatchSize, Steps1: cfg.Steps1,
			Steps2: cfg.Steps2, Scale: cfg.Scale, Channels: cfg.Channels, Hidden: cfg.Hidden,
			FireRate: cfg.FireRate},
	}

	// Synthetic lesions give the step realistic masks without any files.
	opts := isic.DefaultSyntheticOptions()
	opts.Size = cfg.ImageSize
	data := isic.Synthetic(cfg.BatchSize, cfg.Seed, opts)

	stepper, err := nca.NewStepper(m)
	if err != nil {
		return nil, err
	}
	var last nca.StepResult
	r.TrainFirstS, r.TrainIterS, err = timeCalls(reps, func() error {
		last, err = stepper.Step(data.Images, data.Masks, cfg.BatchSize, cfg.LearningRate)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("training step: %w", err)
	}
	r.StepFinite, r.LastTrainLoss = last.Finite, last.Loss
	r.TrainIterSMedian = median(r.TrainIterS)
	r.TrainCompileS = max(r.TrainFirstS-r.TrainIterSMedian, 0)
	r.TrainImagesPerS = float64(cfg.BatchSize) / r.TrainIterSMedian

	r.InferFirstS, r.InferS, err = timeCalls(reps, func() error {
		_, err := m.Predict(data.Image(0), 1)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("inference: %w", err)
	}
	r.InferSMedian = median(r.InferS)
	r.InferCompileS = max(r.InferFirstS-r.InferSMedian, 0)
	r.PeakRSSBytes = peakRSS()
	if kernels {
		rates, err := nca.MeasureKernels(backend, cfg, reps)
		if err != nil {
			return nil, err
		}
		r.MatMulPeakGFLOPS, r.MatMulPeakSize = rates.MatMulPeak, rates.PeakSize
		r.UpdateRuleGFLOPS, r.UpdateRuleCells = rates.UpdateRule, rates.UpdateRuleCells
		r.UpdateRuleOfPeak = rates.UpdateRule / rates.MatMulPeak
	}
	r.TotalSeconds = time.Since(start).Seconds()
	return r, nil
}

// timeCalls calls fn once (it compiles, so it is kept out of the medians), then reps
// times, and returns the seconds of the first call and of each rep.
func timeCalls(reps int, fn func() error) (first float64, times []float64, err error) {
	t := time.Now()
	if err := fn(); err != nil {
		return 0, nil, err
	}
	first = time.Since(t).Seconds()
	for range reps {
		t = time.Now()
		if err := fn(); err != nil {
			return 0, nil, err
		}
		times = append(times, time.Since(t).Seconds())
	}
	return first, times, nil
}

func median(xs []float64) float64 {
	s := slices.Sorted(slices.Values(xs))
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// goExperiment returns the GOEXPERIMENT setting the binary was built with,
// or "" when none was set.
func goExperiment() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return ""
	}
	for _, s := range info.Settings {
		if s.Key == "GOEXPERIMENT" {
			return s.Value
		}
	}
	return ""
}

// peakRSS returns the largest resident memory of the process so far, in
// bytes (Linux reports kilobytes).
func peakRSS() int64 {
	var usage syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &usage); err != nil {
		return 0
	}
	return int64(usage.Maxrss) * 1024
}

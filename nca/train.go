package nca

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"time"

	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/mednca/mednca/isic"
	"github.com/mednca/mednca/plotting"
	"k8s.io/klog/v2"
)

// maxNonFiniteSteps is how many steps in a row may have a NaN or Inf loss
// or gradient before training gives up.
const maxNonFiniteSteps = 3

// TrainOptions says where a training run writes and whom it tells.
type TrainOptions struct {
	// OutputRoot is the folder in which a new run folder
	// training_<timestamp> is created; empty means "output".
	OutputRoot string
	// Resume, if set, is an existing run folder to continue up to
	// Config.Epochs; its config.txt is used, with Config.Epochs (and
	// TimeLimit) taken from the config passed to Train.
	Resume string
	// Backend runs the model; nil means NewBackend("") (MEDNCA_BACKEND or
	// the fastest available).
	Backend compute.Backend
	// Data, if set, is used instead of loading Config.Data.
	Data *isic.Split
	// Progress receives the progress bar (a terminal) or progress lines;
	// nil means os.Stderr, io.Discard silences it.
	Progress io.Writer
	// OnStep and OnEpoch, if set, are called after every step and after
	// every validated epoch, for example to update a notebook's plots.
	OnStep  func(StepReport)
	OnEpoch func(EpochReport)
	// CorruptBatch, if set, may change a batch's images before the step;
	// it exists to test the recovery from NaN losses.
	CorruptBatch func(step int, images []float32)
}

// StepReport describes one finished training step.
type StepReport struct {
	Step, Epoch  int
	Result       StepResult
	LearningRate float64
}

// EpochReport describes one finished epoch and its validation.
type EpochReport struct {
	Epoch, Step  int
	TrainLoss    float64
	Validation   Summary
	LearningRate float64
	Elapsed      time.Duration
	Best         bool // the best validation Dice so far
}

// RunResult is what a finished (or stopped) training run leaves behind.
type RunResult struct {
	Dir        string     // the run folder
	State      TrainState // progress at the end
	Validation Summary    // last validation
	Stopped    string     // why training ended before Config.Epochs, or ""
}

// run is the state of one training run.
type run struct {
	cfg      Config
	opts     TrainOptions
	dir      string
	model    *Model
	stepper  *Stepper
	data     isic.Split
	state    TrainState
	progress *progressBar
	started  time.Time
	lastCkpt string
	last     Summary
}

// Train trains a model as cfg says and writes a run folder:
//
//	config.txt            the hyperparameters, loadable with LoadConfig
//	checkpoints/          ckpt-<step>.bin (the last KeepLast) and best.bin
//	metrics.csv           one row per epoch: losses, Dice, IoU, lr, time
//	curves.png            loss and metric curves
//	gallery/epoch-NNN.png validation predictions after each epoch
//
// A run continues from its latest checkpoint with TrainOptions.Resume.
// Cancelling ctx (for example on Ctrl-C) writes a checkpoint and returns.
func Train(ctx context.Context, cfg Config, opts TrainOptions) (*RunResult, error) {
	if opts.Progress == nil {
		opts.Progress = os.Stderr
	}
	if opts.Backend == nil {
		backend, info, err := NewBackend("")
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(opts.Progress, "Backend: %s\n", info)
		opts.Backend = backend
	}
	r := &run{cfg: cfg, opts: opts}
	if err := r.setup(); err != nil {
		return nil, err
	}
	return r.loop(ctx)
}

// setup reopens the run folder or checks the config, loads the data, and
// only then creates a new run folder, so that a run that cannot start
// leaves nothing behind.
func (r *run) setup() error {
	if r.opts.Resume != "" {
		if err := r.reopen(); err != nil {
			return err
		}
	} else if err := r.cfg.Validate(); err != nil {
		return err
	}

	if r.opts.Data != nil {
		r.data = *r.opts.Data
	} else {
		fmt.Fprintf(r.opts.Progress, "Loading data: %s\n", dataName(r.cfg))
		var err error
		if r.data, err = LoadData(r.cfg, nil); err != nil {
			return err
		}
	}
	fmt.Fprintf(r.opts.Progress, "Data: %d train, %d validation, %d test samples of %dx%d\n",
		r.data.Train.Len(), r.data.Validation.Len(), r.data.Test.Len(), r.cfg.ImageSize, r.cfg.ImageSize)

	if r.opts.Resume == "" {
		if err := r.create(); err != nil {
			return err
		}
	}
	var err error
	r.stepper, err = newStepper(r.model, r.state.Step)
	return err
}

func dataName(cfg Config) string {
	if cfg.Data == "" {
		return fmt.Sprintf("built-in synthetic lesions (%d samples)", cfg.Synthetic)
	}
	return cfg.Data
}

// create makes a new run folder with its config.txt and a fresh model.
func (r *run) create() error {
	root := r.opts.OutputRoot
	if root == "" {
		root = "output"
	}
	base := filepath.Join(root, "training_"+time.Now().Format("20060102_150405"))
	r.dir = base
	for i := 2; ; i++ {
		err := os.MkdirAll(filepath.Dir(r.dir), 0o755)
		if err == nil {
			err = os.Mkdir(r.dir, 0o755)
		}
		if err == nil {
			break
		}
		if !errors.Is(err, os.ErrExist) {
			return fmt.Errorf("creating run folder: %w", err)
		}
		r.dir = fmt.Sprintf("%s_%d", base, i)
	}
	if err := writeFileAtomic(filepath.Join(r.dir, "config.txt"), []byte(r.cfg.String())); err != nil {
		return err
	}
	var err error
	r.model, err = NewModel(r.opts.Backend, r.cfg)
	r.state = TrainState{LearningRate: r.cfg.LearningRate}
	return err
}

// reopen loads the latest checkpoint of an existing run folder.
func (r *run) reopen() error {
	r.dir = r.opts.Resume
	ckptDir := filepath.Join(r.dir, "checkpoints")
	latest, err := latestCheckpoint(ckptDir)
	if err != nil {
		return fmt.Errorf("resume %s: %w", r.dir, err)
	}
	if latest == "" {
		return fmt.Errorf("resume %s: no checkpoint in %s; pass a folder written by `mednca train`", r.dir,
			ckptDir)
	}
	ckpt, err := ReadCheckpoint(latest)
	if err != nil {
		return err
	}
	epochs, limit := r.cfg.Epochs, r.cfg.TimeLimit
	r.cfg = ckpt.Config
	r.cfg.Epochs, r.cfg.TimeLimit = epochs, limit
	if r.model, err = NewModel(r.opts.Backend, r.cfg); err != nil {
		return err
	}
	if err := r.model.restore(ckpt); err != nil {
		return err
	}
	r.state = ckpt.State
	r.lastCkpt = latest
	if trained := time.Duration(r.state.ElapsedSec * float64(time.Second)); limit > 0 && trained >= limit {
		return fmt.Errorf("resume %s: the run has trained %s already, past time_limit=%s (the limit counts "+
			"the whole run); pass a larger time_limit, or time_limit=0 for none", r.dir,
			trained.Round(time.Second), limit)
	}
	fmt.Fprintf(r.opts.Progress, "Resuming %s from %s (epoch %d, step %d)\n", r.dir, filepath.Base(latest),
		r.state.Epoch, r.state.Step)
	return truncateMetrics(filepath.Join(r.dir, "metrics.csv"), r.state.Epoch)
}

// loop trains epoch by epoch until Config.Epochs, a stop or an error.
func (r *run) loop(ctx context.Context) (*RunResult, error) {
	r.started = time.Now().Add(-time.Duration(r.state.ElapsedSec * float64(time.Second)))
	result := &RunResult{Dir: r.dir}
	batchesPerEpoch := r.data.Train.Len() / r.cfg.BatchSize
	if batchesPerEpoch == 0 {
		return nil, fmt.Errorf("%d training samples are fewer than batch=%d; lower batch or add data",
			r.data.Train.Len(), r.cfg.BatchSize)
	}
	r.progress = newProgressBar(r.opts.Progress, r.cfg.Epochs, batchesPerEpoch)
	defer r.progress.finish()

	for r.state.Epoch < r.cfg.Epochs {
		stop, err := r.epoch(ctx, r.state.Epoch+1)
		if err != nil {
			return nil, err
		}
		if stop != "" {
			result.Stopped = stop
			break
		}
	}
	result.State = r.state
	result.Validation = r.last
	return result, nil
}

// epoch trains one epoch, validates, and writes metrics, pictures and a
// checkpoint. It returns a reason when training must stop early.
func (r *run) epoch(ctx context.Context, epoch int) (string, error) {
	batches := isic.NewBatches(r.data.Train, isic.BatchOptions{
		BatchSize:      r.cfg.BatchSize,
		Seed:           r.cfg.Seed*1_000_003 + int64(epoch),
		Shuffle:        true,
		Augment:        r.cfg.Augment,
		DropIncomplete: true,
		Name:           "train",
	})
	var lossSum float64
	var steps, nonFinite int
	r.progress.startEpoch(epoch)
	for batch, err := range batches.Iter() {
		if err != nil {
			return "", err
		}
		images := tensors.MustCopyFlatData[float32](batch.Inputs[0])
		masks := tensors.MustCopyFlatData[float32](batch.Labels[0])
		batchSize := batch.Inputs[0].Shape().Dimensions[0]
		_ = batch.Finalize()
		if r.opts.CorruptBatch != nil {
			r.opts.CorruptBatch(r.state.Step+1, images)
		}

		res, err := r.stepper.Step(images, masks, batchSize, r.state.LearningRate)
		if err != nil {
			return "", r.stepError(err)
		}
		r.state.Step++
		if !res.Finite {
			nonFinite++
			if stop, err := r.nonFinite(nonFinite, res); stop != "" || err != nil {
				return stop, err
			}
		} else {
			nonFinite = 0
			lossSum += res.Loss
			steps++
		}
		r.progress.step(res.Loss)
		if r.opts.OnStep != nil {
			r.opts.OnStep(StepReport{Step: r.state.Step, Epoch: epoch, Result: res,
				LearningRate: r.state.LearningRate})
		}

		// A cancelled context or the time limit still gets a checkpoint, so
		// the run can resume.
		if ctx.Err() != nil || r.overTime() {
			why, resume := "interrupted", ""
			if ctx.Err() == nil {
				why = fmt.Sprintf("time limit %s reached", r.cfg.TimeLimit)
				resume = fmt.Sprintf(" time_limit=%s", 2*r.cfg.TimeLimit)
			}
			return r.stopWithCheckpoint(why, resume)
		}
	}
	r.state.Epoch = epoch
	return "", r.endEpoch(epoch, lossSum/math.Max(float64(steps), 1))
}

func (r *run) overTime() bool {
	return r.cfg.TimeLimit > 0 && time.Since(r.started) > r.cfg.TimeLimit
}

// stopWithCheckpoint saves the state reached and returns why training
// stopped. The message shows how to continue, with resumeKeys (such as a
// longer time limit) after the command.
func (r *run) stopWithCheckpoint(why, resumeKeys string) (string, error) {
	r.state.ElapsedSec = time.Since(r.started).Seconds()
	if err := r.saveCheckpoint(false); err != nil {
		return "", err
	}
	r.progress.finish()
	fmt.Fprintf(r.opts.Progress, "Training stopped (%s) at step %d; checkpoint %s. Continue with "+
		"`mednca train --resume %s%s`.\n", why, r.state.Step, r.lastCkpt, r.dir, resumeKeys)
	return why, nil
}

// nonFinite handles a step whose loss or gradients were NaN or Inf: the
// step changed nothing (the weights are the last good ones), the learning
// rate is halved, and after maxNonFiniteSteps in a row training stops.
func (r *run) nonFinite(streak int, res StepResult) (string, error) {
	r.state.LearningRate /= 2
	r.progress.message(fmt.Sprintf("step %d: loss %g, gradient norm %g: update skipped, weights kept at "+
		"their last good values, learning rate halved to %g", r.state.Step, res.Loss, res.GradNorm,
		r.state.LearningRate))
	if !r.model.weightsFinite() {
		return "", fmt.Errorf("weights contain NaN or Inf after step %d; restart from checkpoint %s with a "+
			"lower lr", r.state.Step, r.lastCheckpointName())
	}
	if streak < maxNonFiniteSteps {
		return "", nil
	}
	return "", fmt.Errorf("training stopped: %d steps in a row (up to step %d) had a NaN or Inf loss or "+
		"gradient although each was skipped and the learning rate halved (now %g); check the data for "+
		"broken images or lower lr; the last good checkpoint is %s", streak, r.state.Step,
		r.state.LearningRate, r.lastCheckpointName())
}

func (r *run) lastCheckpointName() string {
	if r.lastCkpt == "" {
		return "(none yet: the failure came before the first epoch ended)"
	}
	return r.lastCkpt
}

// stepError turns a failed step into an error a user can act on.
func (r *run) stepError(err error) error {
	if IsOutOfMemory(err) {
		return fmt.Errorf("out of memory at step %d with batch=%d, patch=%d, size=%d: lower batch (e.g. "+
			"batch=%d) or patch (e.g. patch=%d); the last checkpoint %s is intact: %w", r.state.Step+1,
			r.cfg.BatchSize, r.cfg.PatchSize, r.cfg.ImageSize, max(r.cfg.BatchSize/2, 1),
			max(r.cfg.PatchSize/2, r.cfg.Scale), r.lastCheckpointName(), err)
	}
	return fmt.Errorf("training step %d: %w", r.state.Step+1, err)
}

// endEpoch validates, adjusts the learning rate, and writes the epoch's
// metrics row, pictures and checkpoint.
func (r *run) endEpoch(epoch int, trainLoss float64) error {
	r.state.ElapsedSec = time.Since(r.started).Seconds()
	report := EpochReport{Epoch: epoch, Step: r.state.Step, TrainLoss: trainLoss,
		LearningRate: r.state.LearningRate}
	validate := epoch%r.cfg.EvalEvery == 0 || epoch == r.cfg.Epochs
	var eval *Evaluation
	if validate {
		var err error
		eval, err = Evaluate(r.model, r.data.Validation, EvalOptions{})
		if err != nil {
			return fmt.Errorf("validating epoch %d: %w", epoch, err)
		}
		r.last = eval.Summary
		report.Validation = eval.Summary
		if eval.Summary.Dice > r.state.BestDice || r.state.BestEpoch == 0 {
			r.state.BestDice, r.state.BestEpoch = eval.Summary.Dice, epoch
			report.Best = true
		}
		r.plateau(eval.Summary.Loss)
	}
	report.Elapsed = time.Duration(r.state.ElapsedSec * float64(time.Second))

	if err := appendMetrics(filepath.Join(r.dir, "metrics.csv"), report); err != nil {
		return err
	}
	if err := r.saveCheckpoint(report.Best); err != nil {
		return err
	}
	if err := r.savePictures(epoch, eval); err != nil {
		// Pictures help but are not worth losing a run over.
		klog.Warningf("epoch %d: %v", epoch, err)
		r.progress.message(fmt.Sprintf("warning: %v", err))
	}
	r.progress.endEpoch(report)
	if r.opts.OnEpoch != nil {
		r.opts.OnEpoch(report)
	}
	return nil
}

// plateau halves (by PlateauFactor) the learning rate when the validation
// loss has not improved for PlateauPatience validations.
func (r *run) plateau(valLoss float64) {
	if r.state.PlateauLoss == 0 || valLoss < r.state.PlateauLoss*(1-1e-4) {
		r.state.PlateauLoss = valLoss
		r.state.PlateauWait = 0
		return
	}
	r.state.PlateauWait++
	if r.state.PlateauWait <= r.cfg.PlateauPatience {
		return
	}
	lr := math.Max(r.state.LearningRate*r.cfg.PlateauFactor, r.cfg.MinLearningRate)
	if lr < r.state.LearningRate {
		r.progress.message(fmt.Sprintf("validation loss has not improved for %d epochs: learning rate %g -> %g",
			r.state.PlateauWait, r.state.LearningRate, lr))
		r.state.LearningRate = lr
	}
	r.state.PlateauWait = 0
}

// saveCheckpoint writes ckpt-<step>.bin (and best.bin when best), then
// removes the oldest step checkpoints beyond KeepLast.
func (r *run) saveCheckpoint(best bool) error {
	dir := filepath.Join(r.dir, "checkpoints")
	path := filepath.Join(dir, checkpointName(r.state.Step))
	if err := r.model.SaveCheckpoint(path, r.state); err != nil {
		return err
	}
	r.lastCkpt = path
	if best {
		if err := r.model.SaveCheckpoint(filepath.Join(dir, bestCheckpoint), r.state); err != nil {
			return err
		}
	}
	names, err := listCheckpoints(dir)
	if err != nil {
		return err
	}
	for len(names) > max(r.cfg.KeepLast, 1) {
		if err := os.Remove(filepath.Join(dir, names[0])); err != nil {
			return err
		}
		names = names[1:]
	}
	return nil
}

// savePictures writes the loss curves and the epoch's validation gallery.
func (r *run) savePictures(epoch int, eval *Evaluation) error {
	rows, err := plotting.ReadMetricsCSV(filepath.Join(r.dir, "metrics.csv"))
	if err != nil {
		return err
	}
	if err := plotting.SaveCurves(rows, filepath.Join(r.dir, "curves.png")); err != nil {
		return err
	}
	if eval == nil || r.cfg.Gallery <= 0 {
		return nil
	}
	gallery := GalleryRows(r.data.Validation, eval, r.cfg.Gallery)
	path := filepath.Join(r.dir, "gallery", fmt.Sprintf("epoch-%03d.png", epoch))
	return plotting.SavePNG(path, plotting.Gallery(gallery, galleryScale(r.cfg.ImageSize)))
}

// galleryScale enlarges small images so gallery panels stay readable.
func galleryScale(size int) int {
	return max(1, 128/size)
}

package main

import (
	"encoding/csv"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/mednca/mednca/isic"
	"github.com/mednca/mednca/nca"
	"github.com/mednca/mednca/plotting"
	"golang.org/x/term"
)

func init() {
	register("eval", "score a trained model on a data split: Dice, IoU, ISIC score, per-image CSV, galleries",
		runEval)
}

const evalUsage = `--checkpoint PATH [--data DIR] [--split test|validation|train|all] [--ensemble K] [flags]

Segments every image of a split with a trained model and scores it against
its mask: mean Dice, IoU, the ISIC 2018 score (mean IoU with IoU below 0.65
counted as 0) and the loss; with --ensemble K also the quality score (mean
over images of sum(std)/sum(mean) of K stochastic runs).

The split is the one the model was trained with (same split_seed, val_frac
and test_frac), of the data in --data or, without it, of the run's own data.
Writes per_image.csv (id,dice,iou,loss[,quality]), summary.txt, worst.png
(the lowest Dice first) and gallery.png (images spread over the split) into
--out, by default eval_<split> inside the run folder.`

// checkpointHelp documents the --checkpoint flag of eval and predict.
const checkpointHelp = "training folder, its checkpoints/ folder or a .bin file (required)"

// backendHelp documents the --backend flag of eval, predict and bench.
const backendHelp = "compute backend: auto, go, onnx or xla:cuda (default $" + nca.BackendEnv +
	", else auto)"

// evalSplits are the accepted values of --split.
var evalSplits = []string{"test", "validation", "train", "all"}

// evalGallerySize is the number of rows of each gallery picture.
const evalGallerySize = 8

func runEval(args []string) error {
	fs := newFlagSet("eval", evalUsage)
	checkpoint := fs.String("checkpoint", "", checkpointHelp)
	data := fs.String("data", "", "ISIC folder to evaluate on (default: the data the model was trained on)")
	split := fs.String("split", "test", "part of the data: "+strings.Join(evalSplits, ", "))
	ensemble := fs.Int("ensemble", 1, "stochastic runs averaged per image (above 1 adds the quality score)")
	out := fs.String("out", "", "folder for the results (default: <run folder>/eval_<split>, else "+
		"./eval_<split>)")
	backendName := fs.String("backend", "", backendHelp)
	positional, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(positional) > 0 {
		fmt.Fprintf(os.Stderr, "mednca eval: unexpected argument %q (`mednca predict` segments image "+
			"files)\n", positional[0])
		fs.Usage()
		return errUsage
	}
	if err := checkEvalFlags(*checkpoint, *data, *split, *ensemble); err != nil {
		return err
	}

	m, ckpt, err := loadCheckpointModel(*backendName, *checkpoint)
	if err != nil {
		return err
	}
	d, err := loadEvalData(m.Config, *data, *split)
	if err != nil {
		return err
	}
	outDir := *out
	if outDir == "" {
		outDir = defaultEvalDir(ckpt.Path, *split, *ensemble)
	}

	fmt.Fprintf(os.Stderr, "Evaluating %d %s images of %dx%d\n", d.Len(), *split, d.Size, d.Size)
	e, err := nca.Evaluate(m, d, nca.EvalOptions{Ensemble: *ensemble, Progress: progressLine("images")})
	if err != nil {
		return fmt.Errorf("evaluating %s: %w", ckpt.Path, err)
	}
	return writeEvaluation(outDir, ckpt, d, e, *split, *ensemble)
}

// checkEvalFlags rejects flag values before any slow work starts.
func checkEvalFlags(checkpoint, data, split string, ensemble int) error {
	if checkpoint == "" {
		return fmt.Errorf("--checkpoint is required: pass a training folder (output/training_*), its " +
			"checkpoints/ folder or a .bin file")
	}
	if !slices.Contains(evalSplits, split) {
		return fmt.Errorf("--split %q: expected one of %s", split, strings.Join(evalSplits, ", "))
	}
	if ensemble < 1 {
		return fmt.Errorf("--ensemble %d: must be at least 1 (1 is a single run per image)", ensemble)
	}
	if data != "" {
		if info, err := os.Stat(data); err != nil || !info.IsDir() {
			return fmt.Errorf("--data %s: not a folder; pass an ISIC folder holding the image and mask "+
				"folders (for example ISIC2018_Task1-2_Training_Input and ISIC2018_Task1_Training_GroundTruth)",
				data)
		}
	}
	return nil
}

// loadCheckpointModel creates the backend named by the --backend flag and
// loads the model of a checkpoint on it.
func loadCheckpointModel(backendName, checkpoint string) (*nca.Model, *nca.Checkpoint, error) {
	backend, info, err := nca.NewBackend(backendName)
	if err != nil {
		return nil, nil, err
	}
	fmt.Fprintf(os.Stderr, "Backend: %s\n", info)
	m, ckpt, err := nca.LoadModel(backend, checkpoint)
	if err != nil {
		return nil, nil, err
	}
	fmt.Fprintf(os.Stderr, "Model: %s (epoch %d, step %d, %dx%d images)\n", ckpt.Path, ckpt.State.Epoch,
		ckpt.State.Step, m.Config.ImageSize, m.Config.ImageSize)
	return m, ckpt, nil
}

// loadEvalData returns one part of the data at the model's size, split as
// in training. dataDir replaces the data of the model's config when set.
func loadEvalData(cfg nca.Config, dataDir, split string) (*isic.Dataset, error) {
	if dataDir != "" {
		cfg.Data = dataDir
	}
	if cfg.Data != "" {
		fmt.Fprintf(os.Stderr, "Loading %s\n", cfg.Data)
	}
	progress := progressLine("files decoded")

	// "all" needs no split, and so also works on folders too small to split.
	if split == "all" {
		if cfg.Data == "" {
			opts := isic.DefaultSyntheticOptions()
			opts.Size = cfg.ImageSize
			return isic.Synthetic(cfg.Synthetic, cfg.SplitSeed, opts), nil
		}
		return isic.Load(cfg.Data, isic.LoadOptions{Size: cfg.ImageSize, Progress: progress})
	}

	parts, err := nca.LoadData(cfg, progress)
	if err != nil {
		return nil, err
	}
	d := map[string]*isic.Dataset{"train": parts.Train, "validation": parts.Validation,
		"test": parts.Test}[split]
	if d.Len() == 0 {
		return nil, fmt.Errorf("the %s split of %s is empty (test_frac=%g of %d samples); use --split all or "+
			"--split validation", split, evalDataName(cfg), cfg.TestFrac,
			parts.Train.Len()+parts.Validation.Len()+parts.Test.Len())
	}
	return d, nil
}

// evalDataName describes the data of a config for messages.
func evalDataName(cfg nca.Config) string {
	if cfg.Data == "" {
		return "the built-in synthetic dataset"
	}
	return cfg.Data
}

// defaultEvalDir is eval_<split> inside the run folder of a checkpoint in
// <run>/checkpoints/, else in the working folder. An ensemble gets its own
// folder, so it does not replace the single-run results.
func defaultEvalDir(checkpointFile, split string, ensemble int) string {
	name := "eval_" + split
	if ensemble > 1 {
		name += "_ensemble" + strconv.Itoa(ensemble)
	}
	ckptDir := filepath.Dir(checkpointFile)
	run := filepath.Dir(ckptDir)
	if filepath.Base(ckptDir) == "checkpoints" {
		if _, err := os.Stat(filepath.Join(run, "config.txt")); err == nil {
			return filepath.Join(run, name)
		}
	}
	return name
}

// writeEvaluation prints the summary and writes the per-image CSV, the
// summary text and the two galleries into dir.
func writeEvaluation(dir string, ckpt *nca.Checkpoint, d *isic.Dataset, e *nca.Evaluation, split string,
	ensemble int) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	summary := formatSummary(ckpt, d, e, split, ensemble)
	fmt.Print(summary)
	if err := os.WriteFile(filepath.Join(dir, "summary.txt"), []byte(summary), 0o644); err != nil {
		return fmt.Errorf("writing the summary: %w", err)
	}
	csvPath := filepath.Join(dir, "per_image.csv")
	if err := writePerImageCSV(csvPath, e); err != nil {
		return err
	}

	// Small images are enlarged so that the gallery panels stay readable.
	scale := max(1, 128/d.Size)
	worst := filepath.Join(dir, "worst.png")
	spread := filepath.Join(dir, "gallery.png")
	for path, rows := range map[string][]plotting.GalleryRow{
		worst:  nca.WorstRows(d, e, evalGallerySize),
		spread: nca.GalleryRows(d, e, evalGallerySize),
	} {
		if err := plotting.SavePNG(path, plotting.Gallery(rows, scale)); err != nil {
			return err
		}
	}
	fmt.Printf("Per-image scores: %s\nGalleries: %s (lowest Dice first), %s\n", csvPath, worst, spread)
	return nil
}

// formatSummary renders the metrics of an evaluation, one per line.
func formatSummary(ckpt *nca.Checkpoint, d *isic.Dataset, e *nca.Evaluation, split string,
	ensemble int) string {
	s := e.Summary
	var b strings.Builder
	fmt.Fprintf(&b, "Checkpoint: %s (epoch %d)\n", ckpt.Path, ckpt.State.Epoch)
	part := split + " split"
	if split == "all" {
		part = "all images"
	}
	fmt.Fprintf(&b, "Data:       %s, %s, %d images of %dx%d\n", sourceName(d), part, s.N, d.Size, d.Size)
	if ensemble > 1 {
		fmt.Fprintf(&b, "Ensemble:   mean of %d stochastic runs per image\n", ensemble)
	}
	fmt.Fprintf(&b, "Dice:       %.4f (std %.4f over images)\n", s.Dice, s.DiceStd)
	fmt.Fprintf(&b, "IoU:        %.4f\n", s.IoU)
	fmt.Fprintf(&b, "ISIC score: %.4f (mean IoU, IoU below %.2f counted as 0)\n", s.ISIC, nca.ISICThreshold)
	fmt.Fprintf(&b, "Loss:       %.4f\n", s.Loss)
	if ensemble > 1 {
		fmt.Fprintf(&b, "Quality:    %.4f (sum of std / sum of mean probability; lower is more "+
			"certain)\n", s.Quality)
	}
	otsu := nca.OtsuBaseline(d)
	fmt.Fprintf(&b, "Otsu:       Dice %.4f, IoU %.4f (classical threshold baseline on the same images)\n",
		otsu.Dice, otsu.IoU)
	fmt.Fprintf(&b, "n:          %d\n", s.N)
	return b.String()
}

func sourceName(d *isic.Dataset) string {
	if d.Source == "" {
		return "built-in synthetic lesions"
	}
	return d.Source
}

// writePerImageCSV writes one row per image: id,dice,iou,loss and, with an
// ensemble, quality.
func writePerImageCSV(path string, e *nca.Evaluation) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("writing per-image scores: %w", err)
	}
	if err := encodePerImageCSV(f, e); err != nil {
		f.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

func encodePerImageCSV(w io.Writer, e *nca.Evaluation) error {
	cw := csv.NewWriter(w)
	header := []string{"id", "dice", "iou", "loss"}
	if e.Quality != nil {
		header = append(header, "quality")
	}
	if err := cw.Write(header); err != nil {
		return err
	}
	num := func(x float64) string { return strconv.FormatFloat(x, 'f', 6, 64) }
	for i, id := range e.IDs {
		row := []string{id, num(e.Scores[i].Dice), num(e.Scores[i].IoU), num(e.Losses[i])}
		if e.Quality != nil {
			row = append(row, num(e.Quality[i]))
		}
		if err := cw.Write(row); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// progressLine returns a progress callback that shows "done/total what" on
// standard error: redrawn in place on a terminal, a line per tenth of the
// work otherwise.
func progressLine(what string) func(done, total int) {
	terminal := term.IsTerminal(int(os.Stderr.Fd()))
	lastTenth := -1
	return func(done, total int) {
		if terminal {
			fmt.Fprintf(os.Stderr, "\r%d/%d %s\x1b[K", done, total, what)
			if done == total {
				fmt.Fprintln(os.Stderr)
			}
			return
		}
		if tenth := 10 * done / max(total, 1); tenth != lastTenth {
			lastTenth = tenth
			fmt.Fprintf(os.Stderr, "%d/%d %s\n", done, total, what)
		}
	}
}

package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/mednca/mednca/nca"
)

func init() {
	register("train", "train a model (default: the built-in synthetic dataset, a few minutes on a CPU)", runTrain)
}

const trainUsage = `[key=value ...] [flags]

Trains the two-level Med-NCA and writes output/training_<timestamp>/ with
config.txt, checkpoints/, metrics.csv, curves.png and gallery/.

Hyperparameters are set as key=value (for example lr=5e-4 batch=4 epochs=20);
--keys lists them all. Without --data the run uses the quick preset on the
built-in synthetic dataset; with --data it uses the full model defaults.`

func runTrain(args []string) error {
	fs := newFlagSet("train", trainUsage)
	data := fs.String("data", "", "ISIC 2018 folder to train on (default: built-in synthetic lesions)")
	preset := fs.String("preset", "", "starting hyperparameters: quick or default (default: quick without "+
		"--data, default with it)")
	configFile := fs.String("config", "", "start from a config.txt (for example of an earlier run)")
	resume := fs.String("resume", "", "continue this run folder up to epochs=N")
	out := fs.String("out", "output", "folder in which the run folder is created")
	backendName := fs.String("backend", "", "compute backend: auto, go, onnx or xla:cuda (default "+
		"$MEDNCA_BACKEND, else auto)")
	listKeys := fs.Bool("keys", false, "list the hyperparameters with their defaults and exit")
	settings, err := parseFlags(fs, args)
	if err != nil {
		return err
	}

	if *resume != "" {
		if info, err := os.Stat(*resume); err != nil || !info.IsDir() {
			return fmt.Errorf("--resume %s: not a run folder; pass a folder written by `mednca train`, "+
				"such as output/training_20260101_120000", *resume)
		}
	}
	if *resume != "" {
		if err := resumableSettings(*resume, settings); err != nil {
			return err
		}
	}
	cfg, err := trainConfig(*preset, *configFile, *data, *resume)
	if err != nil {
		return err
	}
	if *listKeys {
		fmt.Print(cfg.String())
		return nil
	}
	if err := cfg.Set(settings...); err != nil {
		return fmt.Errorf("%w (run `mednca train --keys` for the list)", err)
	}
	if *data != "" {
		cfg.Data = *data
	}
	if *resume == "" {
		if err := cfg.Validate(); err != nil {
			return err
		}
	}

	backend, info, err := nca.NewBackend(*backendName)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "Backend: %s\n", info)

	// Ctrl-C or a TERM signal stops training after the current step with a
	// checkpoint.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	result, err := nca.Train(ctx, cfg, nca.TrainOptions{OutputRoot: *out, Resume: *resume, Backend: backend})
	if err != nil {
		return err
	}
	fmt.Printf("Run folder: %s\n", result.Dir)
	fmt.Printf("Best validation Dice %.4f (epoch %d); last: Dice %.4f, IoU %.4f, ISIC score %.4f\n",
		result.State.BestDice, result.State.BestEpoch, result.Validation.Dice, result.Validation.IoU,
		result.Validation.ISIC)
	return nil
}

// trainConfig returns the starting hyperparameters: a config file, a named
// preset, the config.txt of the run being resumed, or the preset that suits
// the data.
func trainConfig(preset, configFile, data, resume string) (nca.Config, error) {
	if resume != "" && configFile == "" && preset == "" {
		// A resumed run keeps its own settings; the command line may
		// still change epochs and time_limit.
		configFile = filepath.Join(resume, "config.txt")
		if _, err := os.Stat(configFile); err != nil {
			return nca.Config{}, fmt.Errorf("--resume %s: no config.txt in it; pass a folder written by "+
				"`mednca train`, such as output/training_20260101_120000", resume)
		}
	}
	if configFile != "" {
		if preset != "" {
			return nca.Config{}, fmt.Errorf("--preset and --config both given: use one")
		}
		return nca.LoadConfig(configFile)
	}
	switch preset {
	case "":
		if data != "" {
			return nca.DefaultConfig(), nil
		}
		return nca.QuickConfig(), nil
	case "quick":
		return nca.QuickConfig(), nil
	case "default":
		return nca.DefaultConfig(), nil
	}
	return nca.Config{}, fmt.Errorf("--preset %q: expected quick or default", preset)
}

// resumableSettings checks that the key=value settings given with --resume
// are ones a resumed run takes: it keeps all the others from its config.
func resumableSettings(resume string, settings []string) error {
	for _, setting := range settings {
		key, _, _ := strings.Cut(setting, "=")
		if key = strings.TrimSpace(key); key != "epochs" && key != "time_limit" {
			return fmt.Errorf("--resume %s: %s cannot change on a resumed run, which keeps the settings of its "+
				"config.txt; only epochs and time_limit can (start a new run to change %s)", resume, setting, key)
		}
	}
	return nil
}

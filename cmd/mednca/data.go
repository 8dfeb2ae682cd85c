package main

import (
	"fmt"
	"os"
	"time"

	"github.com/mednca/mednca/isic"
	"github.com/mednca/mednca/plotting"
)

func init() {
	register("data stats", "load an ISIC folder (or synthetic lesions), report what it holds, "+
		"draw samples", runDataStats)
}

const dataStatsUsage = `[flags] DIR
       mednca data stats [flags] --synthetic N

Loads the ISIC lesion images and masks under DIR (the folder holding
ISIC2018_Task1-2_Training_Input and ISIC2018_Task1_Training_GroundTruth, or
either of them) as the training would, and prints the counts, the unpaired
and rejected files, the masks that had to be thresholded, the mean lesion
fraction and the time taken. It also writes a grid of samples with their
mask outlines. With --synthetic it does the same for N synthetic lesions.`

// dataStatsFlags are the settings of `mednca data stats`.
type dataStatsFlags struct {
	size, synthetic, samples, list int
	seed                           int64
	grid, cacheDir, part           string
	noCache                        bool
}

func runDataStats(args []string) error {
	fs := newFlagSet("data stats", dataStatsUsage)
	var f dataStatsFlags
	fs.IntVar(&f.size, "size", isic.DefaultSize, "side N of the N x N images, in pixels")
	fs.StringVar(&f.grid, "grid", "data_stats.png", "PNG file for the grid of samples; empty: none")
	fs.IntVar(&f.synthetic, "synthetic", 0, "use N synthetic lesions instead of DIR")
	fs.Int64Var(&f.seed, "seed", 1, "seed of the synthetic lesions")
	fs.IntVar(&f.samples, "samples", 16, "number of samples in the grid")
	fs.IntVar(&f.list, "list", 20, "most files listed per kind of problem; -1: all")
	fs.StringVar(&f.cacheDir, "cache-dir", "", "cache folder (default $"+isic.CacheDirEnv+
		", else the user cache folder)")
	fs.BoolVar(&f.noCache, "no-cache", false, "neither read nor write the cache")
	fs.StringVar(&f.part, "part", "", "set to load when DIR holds several: Training, "+
		"Validation or Test")
	positional, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if err := checkDataStatsArgs(f, positional); err != nil {
		fmt.Fprintf(os.Stderr, "mednca data stats: %v\n", err)
		fs.Usage()
		return errUsage
	}

	d, err := loadStatsData(f, positional)
	if err != nil {
		return err
	}
	fmt.Printf("Mean lesion fraction: %.3f of the pixels\n", d.LesionFraction())
	if f.grid != "" {
		if err := writeSampleGrid(f.grid, d, f.samples); err != nil {
			return err
		}
		fmt.Printf("Grid of samples:   %s\n", f.grid)
	}
	return nil
}

// checkDataStatsArgs returns an error for flags or arguments that make no
// sense together.
func checkDataStatsArgs(f dataStatsFlags, positional []string) error {
	switch {
	case f.size <= 0:
		return fmt.Errorf("--size %d: expected a positive number of pixels, such as 128", f.size)
	case f.synthetic < 0:
		return fmt.Errorf("--synthetic %d: expected a positive number of samples", f.synthetic)
	case f.samples <= 0:
		return fmt.Errorf("--samples %d: expected a positive number of grid samples", f.samples)
	case f.synthetic > 0 && len(positional) > 0:
		return fmt.Errorf("both --synthetic and the folder %q given: use one", positional[0])
	case f.synthetic == 0 && len(positional) != 1:
		return fmt.Errorf("expected one folder (or --synthetic N), got %d arguments", len(positional))
	}
	return nil
}

// loadStatsData loads the folder or draws the synthetic set that f asks for
// and prints what was loaded.
func loadStatsData(f dataStatsFlags, positional []string) (*isic.Dataset, error) {
	if f.synthetic > 0 {
		start := time.Now()
		opts := isic.DefaultSyntheticOptions()
		opts.Size = f.size
		d := isic.Synthetic(f.synthetic, f.seed, opts)
		fmt.Printf("Synthetic lesions: %d at %dx%d (seed %d), drawn in %s\n", d.Len(), d.Size, d.Size,
			f.seed, time.Since(start).Round(time.Millisecond))
		return d, nil
	}

	fmt.Fprintf(os.Stderr, "Loading %s\n", positional[0])
	d, err := isic.Load(positional[0], isic.LoadOptions{Size: f.size, CacheDir: f.cacheDir,
		NoCache: f.noCache, Part: f.part, Progress: progressLine("pairs decoded")})
	if err != nil {
		return nil, err
	}
	fmt.Printf("Folder:            %s, at %dx%d\n", positional[0], d.Size, d.Size)
	d.Report.WriteSummary(os.Stdout, f.list)
	return d, nil
}

// writeSampleGrid draws n samples of d, spread evenly over it, with their
// mask outlines and ids, into the PNG file path.
func writeSampleGrid(path string, d *isic.Dataset, n int) error {
	n = min(n, d.Len())
	images, masks, labels := make([][]float32, n), make([][]float32, n), make([]string, n)
	for j := range n {
		i := j * d.Len() / n
		images[j], masks[j], labels[j] = d.Image(i), d.Mask(i), d.IDs[i]
	}
	grid := plotting.MaskOutlineGrid(images, masks, d.Size, gridColumns(n), labels)
	if err := plotting.SavePNG(path, grid); err != nil {
		return fmt.Errorf("--grid: %w", err)
	}
	return nil
}

// gridColumns is the number of columns of a grid of n samples: 8 at most,
// fewer for small grids so they stay about square.
func gridColumns(n int) int {
	cols := 1
	for cols*cols < n && cols < 8 {
		cols++
	}
	return cols
}

package nca

import (
	"fmt"

	"github.com/mednca/mednca/isic"
)

// LoadData returns the train/validation/test split that cfg describes: the
// ISIC folder cfg.Data, or the built-in synthetic dataset when it is empty.
// The split depends only on cfg.SplitSeed and the sample ids, so the same
// image is always in the same split.
func LoadData(cfg Config, progress func(done, total int)) (isic.Split, error) {
	var d *isic.Dataset
	if cfg.Data == "" {
		opts := isic.DefaultSyntheticOptions()
		opts.Size = cfg.ImageSize
		d = isic.Synthetic(cfg.Synthetic, cfg.SplitSeed, opts)
	} else {
		var err error
		d, err = isic.Load(cfg.Data, isic.LoadOptions{Size: cfg.ImageSize, Progress: progress})
		if err != nil {
			return isic.Split{}, err
		}
	}
	split := d.Split(cfg.SplitSeed, 1-cfg.ValFrac-cfg.TestFrac, cfg.ValFrac)
	if split.Train.Len() == 0 || split.Validation.Len() == 0 {
		return split, fmt.Errorf("%s: %d samples split into %d train and %d validation; need at least one "+
			"of each (add images or raise val_frac)", d.Source, d.Len(), split.Train.Len(), split.Validation.Len())
	}
	if cfg.MaxTrain > 0 && split.Train.Len() > cfg.MaxTrain {
		indices := make([]int, cfg.MaxTrain)
		for i := range indices {
			indices[i] = i
		}
		split.Train = split.Train.Subset(indices)
	}
	return split, nil
}

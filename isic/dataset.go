package isic

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"math"
)

// Dataset holds lesion images and their masks, all Size x Size, stored
// flat: sample i occupies [i*Size*Size, (i+1)*Size*Size) of Images and of
// Masks, row-major.
type Dataset struct {
	// Size is N: images and masks are N x N.
	Size int
	// IDs names each sample, e.g. "ISIC_0000000"; sorted for loaded data.
	IDs []string
	// Images are gray values (luma) in [0,1]; len = Len()*Size*Size.
	Images []float32
	// Masks are 1 on lesion and 0 elsewhere, laid out like Images.
	Masks []float32
	// Source says where the samples come from: a folder, or "synthetic".
	Source string
	// Report describes the load that read the samples from disk; nil for
	// synthetic data. Subsets and splits keep their parent's report.
	Report *LoadReport
}

// Len is the number of samples.
func (d *Dataset) Len() int { return len(d.IDs) }

// Pixels is the number of pixels of one image, Size*Size.
func (d *Dataset) Pixels() int { return d.Size * d.Size }

// Image returns a view (not a copy) of image i.
func (d *Dataset) Image(i int) []float32 {
	n := d.Pixels()
	return d.Images[i*n : (i+1)*n : (i+1)*n]
}

// Mask returns a view (not a copy) of mask i.
func (d *Dataset) Mask(i int) []float32 {
	n := d.Pixels()
	return d.Masks[i*n : (i+1)*n : (i+1)*n]
}

// Subset returns a new dataset with copies of the samples at indices, in
// that order (an index may repeat).
func (d *Dataset) Subset(indices []int) *Dataset {
	n := d.Pixels()
	sub := &Dataset{
		Size:   d.Size,
		IDs:    make([]string, len(indices)),
		Images: make([]float32, len(indices)*n),
		Masks:  make([]float32, len(indices)*n),
		Source: d.Source,
		Report: d.Report,
	}
	for j, i := range indices {
		sub.IDs[j] = d.IDs[i]
		copy(sub.Images[j*n:], d.Image(i))
		copy(sub.Masks[j*n:], d.Mask(i))
	}
	return sub
}

// LesionFraction is the mean fraction of mask pixels that are lesion, over
// all samples; 0 for an empty dataset.
func (d *Dataset) LesionFraction() float64 {
	if len(d.Masks) == 0 {
		return 0
	}
	var sum float64
	for _, v := range d.Masks {
		sum += float64(v)
	}
	return sum / float64(len(d.Masks))
}

// Split holds the three disjoint parts of a dataset.
type Split struct {
	Train, Validation, Test *Dataset
}

// Default fractions of [Dataset.Split]; the test part gets the rest.
const (
	DefaultTrainFraction      = 0.8
	DefaultValidationFraction = 0.1
)

// CheckSplit returns an error unless trainFrac and valFrac are fractions in
// [0,1] whose sum is at most 1 (the test part gets the rest).
func CheckSplit(trainFrac, valFrac float64) error {
	if !(trainFrac >= 0 && valFrac >= 0 && trainFrac+valFrac <= 1) {
		return fmt.Errorf("split fractions train=%g, validation=%g are invalid: each must be in "+
			"[0,1] and their sum at most 1 (the test part gets the rest)", trainFrac, valFrac)
	}
	return nil
}

// Split assigns each sample to train, validation or test by a hash of seed
// and its id, not by position: an id lands in the same part whatever other
// samples exist, and the same sample loaded at another size too. The parts
// hold about trainFrac, valFrac and the rest of the samples (exactly only in
// the limit of many samples). Both fractions zero means the defaults, 0.8
// and 0.1. It panics on fractions rejected by [CheckSplit].
func (d *Dataset) Split(seed int64, trainFrac, valFrac float64) Split {
	if trainFrac == 0 && valFrac == 0 {
		trainFrac, valFrac = DefaultTrainFraction, DefaultValidationFraction
	}
	if err := CheckSplit(trainFrac, valFrac); err != nil {
		panic("isic: " + err.Error())
	}
	var train, val, test []int
	for i, id := range d.IDs {
		switch u := SplitHash(seed, id); {
		case u < trainFrac:
			train = append(train, i)
		case u < trainFrac+valFrac:
			val = append(val, i)
		default:
			test = append(test, i)
		}
	}
	return Split{Train: d.Subset(train), Validation: d.Subset(val), Test: d.Subset(test)}
}

// SplitHash maps (seed, id) to a number uniform in [0,1), the position of
// the id on the line that [Dataset.Split] cuts into parts.
func SplitHash(seed int64, id string) float64 {
	h := fnv.New64a()
	var buf [8]byte
	binary.LittleEndian.PutUint64(buf[:], uint64(seed))
	h.Write(buf[:])
	h.Write([]byte(id))
	return float64(mix64(h.Sum64())>>11) / (1 << 53)
}

// mix64 is the SplitMix64 finalizer: it spreads every input bit over all
// output bits, which FNV alone does poorly for ids differing in one digit.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// quantize rounds v in [0,1] to the nearest multiple of 1/65535, the
// precision at which loaded images are cached.
func quantize(v float32) uint16 {
	return uint16(math.Round(float64(min(max(v, 0), 1)) * 65535))
}

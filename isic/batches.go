package isic

import (
	"fmt"
	"iter"
	"math/rand/v2"
	"sync/atomic"

	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/train"
)

// BatchOptions configures [NewBatches].
type BatchOptions struct {
	// BatchSize is the number of samples per batch; 0 means 8.
	BatchSize int
	// Seed drives the shuffling and the augmentation; each epoch mixes its
	// number into it, so epochs differ and runs repeat.
	Seed int64
	// Shuffle reorders the samples on every epoch.
	Shuffle bool
	// Augment applies a random flip and quarter turn to each image and its
	// mask alike, and a random brightness and contrast change to the image
	// only.
	Augment bool
	// Brightness is the largest brightness change added to an augmented
	// image; 0 means 0.1, negative disables it.
	Brightness float32
	// Contrast is the largest relative contrast change of an augmented
	// image, around its mean; 0 means 0.1, negative disables it.
	Contrast float32
	// DropIncomplete skips the last batch of an epoch when it holds fewer
	// than BatchSize samples, so every batch has the same shape.
	DropIncomplete bool
	// Name names the dataset in GoMLX metrics and plots; empty means "isic".
	Name string
}

// Batches yields a [Dataset] in batches; it implements GoMLX's
// train.Dataset. Each batch has Inputs = [images] and Labels = [masks],
// both float32 tensors of shape [B, N, N, 1]. Every call of Iter starts a
// new epoch. Batches is safe for use by one goroutine at a time.
type Batches struct {
	data  *Dataset
	opts  BatchOptions
	epoch atomic.Int64
}

// Batches must satisfy GoMLX's dataset interface.
var _ train.Dataset = (*Batches)(nil)

// DefaultBatchSize is the batch size when BatchOptions.BatchSize is zero.
const DefaultBatchSize = 8

// NewBatches returns the batches of d. It panics on an empty dataset or a
// negative batch size, which are programming errors.
func NewBatches(d *Dataset, opts BatchOptions) *Batches {
	if d.Len() == 0 {
		panic("isic: NewBatches of an empty dataset")
	}
	if opts.BatchSize < 0 {
		panic(fmt.Sprintf("isic: batch size must be positive, got %d", opts.BatchSize))
	}
	if opts.BatchSize == 0 {
		opts.BatchSize = DefaultBatchSize
	}
	if opts.Brightness == 0 {
		opts.Brightness = 0.1
	}
	if opts.Contrast == 0 {
		opts.Contrast = 0.1
	}
	opts.Brightness, opts.Contrast = max(opts.Brightness, 0), max(opts.Contrast, 0)
	if opts.Name == "" {
		opts.Name = "isic"
	}
	return &Batches{data: d, opts: opts}
}

// NewEvalBatches returns batches of d for evaluation: in order, without
// augmentation, every sample exactly once (the last batch may be smaller).
func NewEvalBatches(d *Dataset, batchSize int, name string) *Batches {
	return NewBatches(d, BatchOptions{BatchSize: batchSize, Name: name})
}

// Name implements train.Dataset.
func (b *Batches) Name() string { return b.opts.Name }

// Dataset returns the samples being batched.
func (b *Batches) Dataset() *Dataset { return b.data }

// BatchesPerEpoch is the number of batches one Iter yields.
func (b *Batches) BatchesPerEpoch() int {
	n, bs := b.data.Len(), b.opts.BatchSize
	if b.opts.DropIncomplete {
		return n / bs
	}
	return (n + bs - 1) / bs
}

// Epoch returns the number of epochs started so far (calls of Iter).
func (b *Batches) Epoch() int64 { return b.epoch.Load() }

// Iter implements train.Dataset: it starts a new epoch and yields its
// batches. The tensors are new for each batch and owned by the caller.
func (b *Batches) Iter() iter.Seq2[train.Batch, error] {
	epoch := b.epoch.Add(1) - 1
	rng := rand.New(rand.NewPCG(uint64(b.opts.Seed), mix64(uint64(epoch)+1)))
	order := make([]int, b.data.Len())
	for i := range order {
		order[i] = i
	}
	if b.opts.Shuffle {
		rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
	}
	return func(yield func(train.Batch, error) bool) {
		for start := 0; start < len(order); start += b.opts.BatchSize {
			indices := order[start:min(start+b.opts.BatchSize, len(order))]
			if len(indices) < b.opts.BatchSize && b.opts.DropIncomplete {
				return
			}
			if !yield(b.batch(indices, rng), nil) {
				return
			}
		}
	}
}

// batch assembles the samples at indices into tensors, augmenting them
// with rng when asked.
func (b *Batches) batch(indices []int, rng *rand.Rand) train.Batch {
	size, n := b.data.Size, b.data.Pixels()
	images := make([]float32, len(indices)*n)
	masks := make([]float32, len(indices)*n)
	for j, i := range indices {
		img, mask := images[j*n:(j+1)*n], masks[j*n:(j+1)*n]
		if !b.opts.Augment {
			copy(img, b.data.Image(i))
			copy(mask, b.data.Mask(i))
			continue
		}
		turn := Dihedral(rng.IntN(8))
		turn.Apply(img, b.data.Image(i), size)
		turn.Apply(mask, b.data.Mask(i), size)
		jitter(img, b.opts.Brightness*(2*rng.Float32()-1), b.opts.Contrast*(2*rng.Float32()-1))
	}
	dims := []int{len(indices), size, size, 1}
	return train.Batch{
		Inputs: []*tensors.Tensor{tensors.FromFlatDataAndDimensions(images, dims...)},
		Labels: []*tensors.Tensor{tensors.FromFlatDataAndDimensions(masks, dims...)},
	}
}

// jitter changes the brightness of img by adding brightness and its
// contrast by scaling deviations from its mean by 1+contrast, then clamps
// to [0,1].
func jitter(img []float32, brightness, contrast float32) {
	var mean float32
	for _, v := range img {
		mean += v
	}
	mean /= float32(len(img))
	for i, v := range img {
		img[i] = min(max((v-mean)*(1+contrast)+mean+brightness, 0), 1)
	}
}

// Dihedral is one of the 8 symmetries of a square: Dihedral(k) turns by
// k%4 quarter turns counter-clockwise, then mirrors left-right when k >= 4.
type Dihedral int

// Apply writes src, a size x size image, transformed by t into dst.
func (t Dihedral) Apply(dst, src []float32, size int) {
	last := size - 1
	for y := range size {
		for x := range size {
			// Pixel (x, y) of the result comes from (sx, sy) of the source.
			sx, sy := x, y
			if t >= 4 {
				sx = last - sx
			}
			for range t % 4 {
				// One quarter turn counter-clockwise: (x, y) <- (last-y, x).
				sx, sy = last-sy, sx
			}
			dst[y*size+x] = src[sy*size+sx]
		}
	}
}

package isic

import (
	"slices"
	"testing"

	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/train"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// epoch runs one Iter of b and returns the images, masks and batch sizes.
func epoch(t *testing.T, b train.Dataset, size int) (images, masks [][]float32, sizes []int) {
	t.Helper()
	n := size * size
	for batch, err := range b.Iter() {
		require.NoError(t, err)
		require.Len(t, batch.Inputs, 1)
		require.Len(t, batch.Labels, 1)
		shape := batch.Inputs[0].Shape()
		require.Equal(t, 4, shape.Rank())
		require.Equal(t, []int{shape.Dimensions[0], size, size, 1}, shape.Dimensions)
		require.Equal(t, shape.Dimensions, batch.Labels[0].Shape().Dimensions)
		imgs, err := tensors.CopyFlatData[float32](batch.Inputs[0])
		require.NoError(t, err)
		msks, err := tensors.CopyFlatData[float32](batch.Labels[0])
		require.NoError(t, err)
		for i := range shape.Dimensions[0] {
			images = append(images, imgs[i*n:(i+1)*n])
			masks = append(masks, msks[i*n:(i+1)*n])
		}
		sizes = append(sizes, shape.Dimensions[0])
		require.NoError(t, batch.Finalize())
	}
	return images, masks, sizes
}

// indexOf returns the index of the sample of d whose image is img, or -1.
func indexOf(d *Dataset, img []float32) int {
	for i := range d.Len() {
		if slices.Equal(d.Image(i), img) {
			return i
		}
	}
	return -1
}

func TestEvalBatchesYieldEverySampleInOrder(t *testing.T) {
	d := Synthetic(11, 1, SyntheticOptions{Size: 12})
	b := NewEvalBatches(d, 4, "validation")
	assert.Equal(t, "validation", b.Name())
	assert.Equal(t, 3, b.BatchesPerEpoch())

	for range 2 {
		images, masks, sizes := epoch(t, b, 12)
		assert.Equal(t, []int{4, 4, 3}, sizes)
		require.Len(t, images, 11)
		for i := range 11 {
			assert.Equal(t, d.Image(i), images[i])
			assert.Equal(t, d.Mask(i), masks[i])
		}
	}
	assert.Equal(t, int64(2), b.Epoch())
}

func TestShuffledBatches(t *testing.T) {
	d := Synthetic(10, 1, SyntheticOptions{Size: 8})
	opts := BatchOptions{BatchSize: 3, Seed: 5, Shuffle: true, DropIncomplete: true}
	b := NewBatches(d, opts)
	assert.Equal(t, "isic", b.Name())
	assert.Equal(t, 3, b.BatchesPerEpoch())

	// Each epoch is a new order of distinct samples, with full batches only.
	var orders [][]int
	for range 3 {
		images, masks, sizes := epoch(t, b, 8)
		assert.Equal(t, []int{3, 3, 3}, sizes)
		var order []int
		for j, img := range images {
			i := indexOf(d, img)
			require.GreaterOrEqual(t, i, 0)
			assert.Equal(t, d.Mask(i), masks[j], "mask follows its image")
			assert.NotContains(t, order, i)
			order = append(order, i)
		}
		orders = append(orders, order)
	}
	assert.NotEqual(t, orders[0], orders[1])
	assert.NotEqual(t, orders[1], orders[2])

	// The same seed repeats the same epochs.
	again := NewBatches(d, opts)
	images, _, _ := epoch(t, again, 8)
	for j, img := range images {
		assert.Equal(t, orders[0][j], indexOf(d, img))
	}
}

func TestAugmentedBatches(t *testing.T) {
	const size = 16
	d := Synthetic(6, 2, SyntheticOptions{Size: size})

	// Geometry only: every image is one of the 8 symmetries of a sample,
	// and its mask is the same symmetry of the sample's mask.
	b := NewBatches(d, BatchOptions{BatchSize: 6, Seed: 1, Augment: true,
		Brightness: -1, Contrast: -1})
	used := map[Dihedral]bool{}
	for range 4 {
		images, masks, _ := epoch(t, b, size)
		for j := range images {
			found := false
			for i := range d.Len() {
				for k := range Dihedral(8) {
					img, mask := make([]float32, size*size), make([]float32, size*size)
					k.Apply(img, d.Image(i), size)
					k.Apply(mask, d.Mask(i), size)
					if slices.Equal(img, images[j]) {
						assert.Equal(t, mask, masks[j])
						found, used[k] = true, true
					}
				}
			}
			assert.True(t, found, "augmented image %d is no symmetry of a sample", j)
		}
	}
	assert.Greater(t, len(used), 4, "the transforms vary")

	// Brightness and contrast change images, never masks.
	b = NewBatches(d, BatchOptions{BatchSize: 6, Seed: 1, Augment: true})
	images, masks, _ := epoch(t, b, size)
	changed := 0
	for j := range images {
		requireUnit(t, images[j])
		assert.True(t, isMaskSymmetry(d, masks[j]), "mask %d is no symmetry of a sample mask", j)
		if indexOf(d, images[j]) < 0 {
			changed++
		}
	}
	assert.Greater(t, changed, 3)
}

// isMaskSymmetry reports whether mask is one of the 8 symmetries of a mask
// of d.
func isMaskSymmetry(d *Dataset, mask []float32) bool {
	turned := make([]float32, len(mask))
	for i := range d.Len() {
		for k := range Dihedral(8) {
			k.Apply(turned, d.Mask(i), d.Size)
			if slices.Equal(turned, mask) {
				return true
			}
		}
	}
	return false
}

func TestDihedral(t *testing.T) {
	const size = 5
	src := make([]float32, size*size)
	for i := range src {
		src[i] = float32(i)
	}

	// All 8 symmetries differ on an asymmetric image.
	var all [][]float32
	for k := range Dihedral(8) {
		dst := make([]float32, size*size)
		k.Apply(dst, src, size)
		for _, other := range all {
			assert.NotEqual(t, other, dst, "Dihedral(%d)", k)
		}
		all = append(all, dst)
	}
	assert.Equal(t, src, all[0], "Dihedral(0) is the identity")

	// A quarter turn counter-clockwise moves the top-right corner to the
	// top-left; the mirror swaps left and right.
	assert.Equal(t, src[size-1], all[1][0])
	assert.Equal(t, src[size-1], all[4][0])

	// Four quarter turns, or two mirrors, give the identity back.
	img := slices.Clone(src)
	tmp := make([]float32, size*size)
	for range 4 {
		Dihedral(1).Apply(tmp, img, size)
		img, tmp = tmp, img
	}
	assert.Equal(t, src, img)
	Dihedral(4).Apply(tmp, all[4], size)
	assert.Equal(t, src, tmp)
}

func TestNewBatchesRejectsMisuse(t *testing.T) {
	assert.Panics(t, func() { NewBatches(&Dataset{Size: 4}, BatchOptions{}) })
	one := Synthetic(1, 1, SyntheticOptions{Size: 4})
	assert.Panics(t, func() { NewBatches(one, BatchOptions{BatchSize: -1}) })
	b := NewBatches(Synthetic(3, 1, SyntheticOptions{Size: 4}), BatchOptions{})
	_, _, sizes := epoch(t, b, 4)
	assert.Equal(t, []int{3}, sizes, "default batch size %d holds all 3", DefaultBatchSize)
}

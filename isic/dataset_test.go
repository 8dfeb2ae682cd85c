package isic

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// idsOnly returns a dataset of n 1 x 1 samples named id0, id1, ...; the
// pixel of sample i is i, so subsets can be traced.
func idsOnly(n int) *Dataset {
	d := &Dataset{Size: 1, IDs: make([]string, n), Images: make([]float32, n),
		Masks: make([]float32, n)}
	for i := range n {
		d.IDs[i] = fmt.Sprintf("id%d", i)
		d.Images[i] = float32(i)
		d.Masks[i] = float32(i % 2)
	}
	return d
}

func TestDatasetViewsAndSubset(t *testing.T) {
	d := Synthetic(4, 3, SyntheticOptions{Size: 16})
	require.Equal(t, 4, d.Len())
	assert.Equal(t, d.Images[2*256:3*256], d.Image(2))
	assert.Equal(t, d.Masks[3*256:], d.Mask(3))

	// Views share memory with the dataset; subsets copy.
	d.Image(1)[0] = 0.25
	assert.Equal(t, float32(0.25), d.Images[256])
	sub := d.Subset([]int{3, 1, 1})
	assert.Equal(t, []string{d.IDs[3], d.IDs[1], d.IDs[1]}, sub.IDs)
	assert.Equal(t, d.Mask(3), sub.Mask(0))
	assert.Equal(t, d.Image(1), sub.Image(2))
	sub.Image(0)[0] = 7
	assert.NotEqual(t, float32(7), d.Image(3)[0])

	// The lesion fraction is the mean of all masks.
	var sum float64
	for i := range d.Len() {
		sum += mean(d.Mask(i))
	}
	assert.InDelta(t, sum/4, d.LesionFraction(), 1e-9)
	assert.Zero(t, (&Dataset{}).LesionFraction())
}

func TestSplitIsDisjointAndComplete(t *testing.T) {
	d := idsOnly(5000)
	s := d.Split(42, 0, 0)
	total := s.Train.Len() + s.Validation.Len() + s.Test.Len()
	require.Equal(t, d.Len(), total)
	seen := map[string]bool{}
	for _, part := range []*Dataset{s.Train, s.Validation, s.Test} {
		for i, id := range part.IDs {
			require.False(t, seen[id], "id %s in two parts", id)
			seen[id] = true
			assert.Equal(t, id, fmt.Sprintf("id%d", int(part.Image(i)[0])), "pixels follow ids")
		}
	}

	// The default 80/10/10 holds to within sampling noise.
	assert.InDelta(t, 0.8, float64(s.Train.Len())/5000, 0.02)
	assert.InDelta(t, 0.1, float64(s.Validation.Len())/5000, 0.015)
	assert.InDelta(t, 0.1, float64(s.Test.Len())/5000, 0.015)

	// Other fractions, and a seed that changes the assignment.
	s2 := d.Split(42, 0.5, 0.25)
	assert.InDelta(t, 0.5, float64(s2.Train.Len())/5000, 0.03)
	assert.InDelta(t, 0.25, float64(s2.Validation.Len())/5000, 0.03)
	assert.NotEqual(t, s.Train.IDs, d.Split(43, 0, 0).Train.IDs)
}

func TestSplitDependsOnlyOnSeedAndID(t *testing.T) {
	d := idsOnly(300)
	s := d.Split(9, 0.7, 0.2)
	part := map[string]string{}
	for name, p := range map[string]*Dataset{"train": s.Train, "val": s.Validation, "test": s.Test} {
		for _, id := range p.IDs {
			part[id] = name
		}
	}

	// Every other sample removed, and the rest reversed: no id moves.
	var odd []int
	for i := d.Len() - 1; i >= 0; i -= 2 {
		odd = append(odd, i)
	}
	s2 := d.Subset(odd).Split(9, 0.7, 0.2)
	parts := map[string]*Dataset{"train": s2.Train, "val": s2.Validation, "test": s2.Test}
	for name, p := range parts {
		for _, id := range p.IDs {
			assert.Equal(t, part[id], name, id)
		}
	}
	assert.Equal(t, s.Train.IDs, d.Split(9, 0.7, 0.2).Train.IDs)
}

func TestSplitRejectsBadFractions(t *testing.T) {
	for _, f := range [][2]float64{{0.9, 0.2}, {-0.1, 0.5}, {0.5, -0.1}, {1.5, 0}} {
		err := CheckSplit(f[0], f[1])
		require.Error(t, err, "%v", f)
		assert.Contains(t, err.Error(), "at most 1")
		assert.Panics(t, func() { idsOnly(3).Split(1, f[0], f[1]) })
	}
	require.NoError(t, CheckSplit(1, 0))
	s := idsOnly(20).Split(1, 1, 0)
	assert.Equal(t, 20, s.Train.Len())
	assert.Zero(t, s.Test.Len())
}

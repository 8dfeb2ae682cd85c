package nca

import (
	"testing"

	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestFiringCapacity(t *testing.T) {
	// A level-2 training step at the defaults: 8 patches of 64x64 cells,
	// half of them firing; the count's standard deviation is 90.5.
	k := firingCapacity(8*64*64, 0.5)
	assert.Equal(t, 16928, k, "mean 16384 plus six standard deviations, rounded up to a multiple of 8")
	assert.Equal(t, 32, firingCapacity(32, 0.5), "never more than the cells")
	assert.Equal(t, 100, firingCapacity(100, 1), "every cell fires")
	assert.Equal(t, 0, firingCapacity(100, 0), "no cell fires")
}

// TestFiringCells lists the firing cells of one mask in slots enough for
// all of them and in too few, and puts rows back where the cells are.
func TestFiringCells(t *testing.T) {
	backend := testBackend(t)
	mask := []float32{0, 1, 1, 0, 1, 0, 0, 1, 1, 1}
	cells := len(mask)
	for _, tc := range []struct {
		name      string
		slots     int
		wantCells []int32
		wantValid []float32
	}{
		{"room for all", 8, []int32{1, 2, 4, 7, 8, 9, 0, 0}, []float32{1, 1, 1, 1, 1, 1, 0, 0}},
		{"too few slots", 4, []int32{1, 2, 4, 7}, []float32{1, 1, 1, 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			exec, err := NewExec(backend, func(mask *Node) []*Node {
				fired := firingCells(Reshape(mask, 1, cells), tc.slots)
				// Row i of the update holds 10*(i+1) in both columns; unused
				// slots are zeroed by valid, as the step does.
				row := AddScalar(MulScalar(Iota(mask.Graph(), fired.valid.Shape(), 0), 10), 10)
				rows := Mul(Concatenate([]*Node{row, row}, 1), fired.valid)
				return []*Node{fired.cells, fired.valid, fired.scatter(rows, cells)}
			})
			require.NoError(t, err)
			defer exec.Finalize()
			out, err := exec.Exec(tensors.FromFlatDataAndDimensions(mask, cells))
			require.NoError(t, err)
			assert.Equal(t, tc.wantCells, tensors.MustCopyFlatData[int32](out[0]))
			assert.Equal(t, tc.wantValid, tensors.MustCopyFlatData[float32](out[1]))

			// Slot i's row lands on the cell listed in slot i; every other
			// cell, cell 0 among them, gets zeros.
			want := make([]float32, 2*cells)
			for i, cell := range tc.wantCells {
				if tc.wantValid[i] == 1 {
					want[2*cell], want[2*cell+1] = float32(10*(i+1)), float32(10*(i+1))
				}
			}
			assert.Equal(t, want, tensors.MustCopyFlatData[float32](out[2]))
		})
	}
}

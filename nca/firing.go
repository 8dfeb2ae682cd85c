package nca

import (
	"math"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph"
)

// A step's update only changes the cells that fire, about FireRate of
// them. On backends with their own convolution (ONNX Runtime, XLA) the
// steps of training and inference run the update rule (in training
// forward and backward) on those cells alone, gathered as rows, and
// scatter their updates back: half
// the arithmetic of the update rule at the default fire rate, and its
// large operands where the matrix kernels read them in place
// (bench/README.md). Shapes are fixed when the graph is built, so each
// step gathers a fixed number of cells, the capacity: enough for the
// firing cells but for a one-in-a-billion draw (firingCapacity), slots
// beyond the firing cells marked invalid.

// gathersFiringCells tells whether steps on backend, whose cells fire with
// probability rate, run the update rule on the firing cells alone: on the
// backends with their own convolution, when not every cell fires.
func gathersFiringCells(backend compute.Backend, rate float64) bool {
	return !convolvesAsMatrixProduct(backend) && rate < 1
}

// firingSpread is how many standard deviations of the count of firing
// cells the capacity leaves room for above its mean. More firing cells
// than that in one step has a probability below 1e-9.
const firingSpread = 6

// firingCapacity is the number of cells a step's update rule runs on for
// cells cells that fire with probability rate each: the mean count plus
// firingSpread standard deviations, rounded up to a multiple of 8, at
// most cells.
func firingCapacity(cells int, rate float64) int {
	n := float64(cells)
	k := int(math.Ceil(n*rate + firingSpread*math.Sqrt(n*rate*(1-rate))))
	k = (k + 7) / 8 * 8
	return min(k, cells)
}

// firing lists a step's firing cells.
type firing struct {
	cells *Node // [K, 1] int32: the firing cells in increasing order, then cell 0 in the unused slots
	valid *Node // [K, 1] float: 1 for the slots that hold a firing cell, 0 for the unused ones
}

// firingCells lists the cells that fire in mask [1, cells] (0 or 1 each)
// in k slots. Should more than k cells fire, those after the first k do not
// fire in this step (see firingSpread).
func firingCells(mask *Node, k int) *firing {
	g := mask.Graph()
	cells := mask.Shape().Size()
	fires := ConvertDType(Reshape(mask, cells), dtypes.Int32)

	// Each firing cell's slot is the number of firing cells before it;
	// cells that do not fire, and firing cells past the capacity, write
	// to one more slot that is dropped.
	slot := Sub(CumSum(fires, 0), fires)
	spare := Scalar(g, dtypes.Int32, k)
	slot = Where(GreaterThan(fires, ZerosLike(fires)), MinScalar(slot, float64(k)), BroadcastToDims(spare, cells))
	cell := Iota(g, shapes.Make(dtypes.Int32, cells), 0)
	list := Scatter(Reshape(slot, cells, 1), cell, shapes.Make(dtypes.Int32, k+1), false, false)
	count := ReduceAllSum(fires)
	valid := LessThan(Iota(g, shapes.Make(dtypes.Int32, k), 0), count)
	return &firing{
		cells: Reshape(Slice(list, AxisRange(0, k)), k, 1),
		valid: Reshape(ConvertDType(valid, mask.DType()), k, 1),
	}
}

// scatter puts rows [K, C] of the listed cells back in place among all
// cells, [cells, C], zeros in the rows of the cells not listed. Rows of
// unused slots must be zero: they are added to cell 0.
func (f *firing) scatter(rows *Node, cells int) *Node {
	zeros := Zeros(rows.Graph(), shapes.Make(rows.DType(), cells, rows.Shape().Dimensions[1]))
	return ScatterSum(zeros, f.cells, rows, false, false)
}

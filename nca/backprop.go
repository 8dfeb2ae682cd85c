package nca

import (
	"math"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/support/exceptions"
)

// Training computes the gradients of the NCA steps with a backward pass
// written out by hand instead of GoMLX's automatic differentiation. The
// arithmetic is the same (TestBackpropMatchesAutodiff checks it against
// Gradient), but it is laid out for the CPU backends:
//
//   - Inside a level the state is kept cells-last, [C, B, H, W] (as a
//     matrix [C, cells]). Then every matrix product of the step and of its
//     gradient has its contracted axis where the backends' matrix kernels
//     want it, and no large operand is ever transposed: only weights are.
//   - Backends with a fast convolution of their own (ONNX Runtime, XLA)
//     run the perception convolution and its gradient with respect to the
//     state as convolutions. The pure Go backend, whose convolution is a
//     plain loop, multiplies the kernel with the 3x3 neighbourhoods
//     instead, cut in one Gather (a block copy straight into the matrix
//     product's operand, where its Slice is an element-by-element loop).
//   - On the backends with their own convolution a step with a fire mask
//     runs the update rule, forward and backward, on the firing cells
//     alone, gathered as rows (firing.go).
//   - The kernel's gradient is one product of the neighbourhoods (on ONNX
//     Runtime cut with one Slice per view: compute-onnx has no
//     GatherSlices) and the gradient of the filtered channels.
//   - The ReLU gradient uses the backend's fused activation gradient where
//     it has one.
//
// Automatic differentiation still handles the loss and the few operations
// between the two levels (patch selection, upsampling), where tensors are
// small.

// stepRecord is what the backward pass of one step needs from its forward
// pass.
//
// The state the step started from is not kept on its own: it is the first
// C rows of the perception, and keeping both held 16 more values per cell
// and step until the backward pass.
//
// Where the update rule runs on the firing cells alone (see firing), the
// perception and hidden layer are those cells' rows, [K, 3C+1] and [K,
// hidden], and the state is kept on its own.
type stepRecord struct {
	dims       []int   // the state's dimensions, [C, B, H, W]
	perception *Node   // [3C+1, cells]: the state, the filtered channels, a row of ones
	hidden     *Node   // the update rule's hidden layer after ReLU, [hidden, cells]
	mask       *Node   // the fire mask, [1, cells]; nil when every cell fires
	fired      *firing // the firing cells, where the update rule runs on them alone
	state      *Node   // the state [C, cells], with fired
}

// levelMatrices are one level's weights in the layouts of the step's
// matrix products.
//
// The biases ride in the matrix products: the neighbourhoods and the
// perception get a last row of ones, and the transposed kernel and first
// layer a last column holding the biases. That saves a pass over each
// product's output in the forward pass and a sum in the backward pass
// (bench/README.md).
type levelMatrices struct {
	kernel    *Node // conv_a and conv_b side by side, [9C, 2C], rows in (row, column, channel) order
	kernelTB  *Node // the kernel transposed with the biases, [2C, 9(C+1)]: see neighbourhoods
	conv      *Node // the kernel as it is, [3,3,C,2C], where the backend convolves natively
	convBias  *Node // the kernel's biases, [2C, 1], likewise
	denseIn   *Node // dense_in, [3C, hidden]
	denseInS  *Node // dense_in's rows for the state, [C, hidden]
	denseInF  *Node // dense_in's rows for the filtered channels, [2C, hidden]
	denseInTB *Node // dense_in transposed, then its bias: [hidden, 3C+1]
	denseOut  *Node // [hidden, C], the image channel's column zeroed
	denseOutT *Node // [C, hidden]
	channels  int
}

func (w levelWeights) matrices() levelMatrices {
	k := w.convKernel.Shape().Dimensions
	c, out := k[2], k[3]
	g := w.convKernel.Graph()

	// The biases multiply the ones channel of the first view; the ones
	// channels of the other eight views get zeros.
	noBiases := Zeros(g, shapes.Make(w.convBias.DType(), 8, 1, out))
	biases := Concatenate([]*Node{Reshape(w.convBias, 1, 1, out), noBiases}, 0)
	kernelB := Concatenate([]*Node{Reshape(w.convKernel, 9, c, out), biases}, 1)
	lm := updateRuleMatrices(w.denseIn, w.denseInBias, w.denseOut)
	lm.kernel = Reshape(w.convKernel, 9*c, out)
	lm.kernelTB = Transpose(Reshape(kernelB, 9*(c+1), out), 0, 1)
	if !w.convAsDot {
		lm.conv = w.convKernel
		lm.convBias = Reshape(w.convBias, out, 1)
	}
	return lm
}

// updateRuleMatrices lays out the update rule's weights, dense_in [3C,
// hidden] with its bias [hidden] and dense_out [hidden, C], for the step's
// products: the matrices of a level without its kernel.
func updateRuleMatrices(denseIn, denseInBias, denseOut *Node) levelMatrices {
	c := denseOut.Shape().Dimensions[1]
	return levelMatrices{
		denseIn:   denseIn,
		denseInS:  crop(denseIn, 0, 0, c),
		denseInF:  crop(denseIn, 0, c, 2*c),
		denseInTB: withBiasColumn(denseIn, denseInBias),
		denseOut:  denseOut,
		denseOutT: Transpose(denseOut, 0, 1),
		channels:  c,
	}
}

// withBiasColumn is a layer's weights [in, out] transposed, with its bias
// as a last column: [out, in+1].
func withBiasColumn(weights, bias *Node) *Node {
	out := weights.Shape().Dimensions[1]
	return Concatenate([]*Node{Transpose(weights, 0, 1), Reshape(bias, out, 1)}, 1)
}

// onesRow is the row of ones that carries the biases, shaped like one
// channel of a cells-last state [C,B,H,W].
func onesRow(state *Node) *Node {
	d := state.Shape().Dimensions
	return BroadcastToDims(ScalarOne(state.Graph(), state.DType()), 1, d[1], d[2], d[3])
}

// levelGradients accumulates the gradients of one level's weights over its
// steps, in the layouts the matrix products produce them.
type levelGradients struct {
	kernelB   *Node // the kernel's with the ones channels', [9(C+1), 2C]: the biases' is view 0's
	denseInTB *Node // dense_in's transposed, then its bias's: [hidden, 3C+1]
	denseOut  *Node // [hidden, C]
}

func accumulate(sum **Node, x *Node) {
	if *sum == nil {
		*sum = x
	} else {
		*sum = Add(*sum, x)
	}
}

// crop cuts x[start:start+size] along axis in block copies: with a
// negative Pad where Slice copies element by element, and with Slice
// elsewhere.
func crop(x *Node, axis, start, size int) *Node {
	if !slicesByElement(x.Graph().Backend()) {
		return SliceAxis(x, axis, AxisRange(start, start+size))
	}
	return padAxis(x, axis, -start, -(x.Shape().Dimensions[axis] - start - size))
}

// slicesByElement tells whether the backend's Slice copies element by
// element: the pure Go backend's does. There the steps cut with negative
// Pads (block copies) and the neighbourhoods with one Gather.
func slicesByElement(backend compute.Backend) bool {
	return convolvesAsMatrixProduct(backend)
}

// padAxis pads x with zeros along one axis (negative amounts cut).
func padAxis(x *Node, axis, start, end int) *Node {
	config := make([]compute.PadAxis, x.Rank())
	config[axis] = compute.PadAxis{Start: start, End: end}
	return Pad(x, negativeZero(x), config...)
}

// negativeZero is the value the steps pad and crop with: -0, a zero in
// every sum. Pad first fills its whole output, and the pure Go backend
// fills with a zero element by element but with any other bit pattern by
// doubling block copies, several times faster (bench/README.md). It is
// made with Const: GoMLX's cache of scalar constants takes -0 and 0 for
// one key.
func negativeZero(x *Node) *Node {
	return Const(x.Graph(), shapes.CastAsDType(math.Copysign(0, -1), x.DType()))
}

// toCellsLast turns a state [B,H,W,C] into [C,B,H,W], and fromCellsLast
// turns it back.
func toCellsLast(state *Node) *Node   { return TransposeAllAxes(state, 3, 0, 1, 2) }
func fromCellsLast(state *Node) *Node { return TransposeAllAxes(state, 1, 2, 3, 0) }

// shiftedView cuts the [C,B,H,W] view at row offset dy and column offset
// dx out of a padded state [C,B,H+2,W+2], in one copy; placeView puts a
// view back there, zeros around it.
func shiftedView(padded *Node, dy, dx int) *Node {
	if !slicesByElement(padded.Graph().Backend()) {
		d := padded.Shape().Dimensions
		return Slice(padded, AxisRange(), AxisRange(), AxisRange(dy, dy+d[2]-2), AxisRange(dx, dx+d[3]-2))
	}
	return padPlanes(padded, -1, dy, dx)
}
func placeView(view *Node, dy, dx int) *Node { return padPlanes(view, 1, dy, dx) }

// padPlanes pads the rows of a cells-last state [C,B,H,W] with sign*dy
// zeros before and sign*(2-dy) after, the columns likewise with dx;
// sign -1 cuts instead.
func padPlanes(x *Node, sign, dy, dx int) *Node {
	rows := compute.PadAxis{Start: sign * dy, End: sign * (2 - dy)}
	cols := compute.PadAxis{Start: sign * dx, End: sign * (2 - dx)}
	return Pad(x, negativeZero(x), compute.PadAxis{}, compute.PadAxis{}, rows, cols)
}

// reflectPadPlanes is ReflectPad for a cells-last state [C,B,H,W], with
// crops instead of ReflectPad's slices (fast on the go backend; nothing
// differentiates through it automatically, and GoMLX has no gradient for
// a negative Pad).
func reflectPadPlanes(x *Node) *Node {
	for _, axis := range []int{2, 3} {
		n := x.Shape().Dimensions[axis]
		x = Concatenate([]*Node{crop(x, axis, 1, 1), x, crop(x, axis, n-2, 1)}, axis)
	}
	return x
}

// neighbourhoods returns the 3x3 neighbourhoods of a cells-last state
// [C,B,H,W] as [9(C+1), cells]: for each of the nine views in the
// kernel's order (row, column), the state's C channels shifted, then a
// channel of ones that carries the biases.
func neighbourhoods(state *Node) *Node {
	d := state.Shape().Dimensions
	c, b, h, w := d[0], d[1], d[2], d[3]
	padded := reflectPadPlanes(state)
	padded = Concatenate([]*Node{padded, onesRow(padded)}, 0)
	if slicesByElement(state.Graph().Backend()) {
		starts := make([][]int32, 0, 9)
		for dy := range int32(3) {
			for dx := range int32(3) {
				starts = append(starts, []int32{dy, dx})
			}
		}
		views := GatherSlices(padded, []int{2, 3}, Const(state.Graph(), starts), []int{h, w}, true)
		return Reshape(views, 9*(c+1), b*h*w)
	}
	views := make([]*Node, 0, 9)
	for dy := range 3 {
		for dx := range 3 {
			views = append(views, shiftedView(padded, dy, dx))
		}
	}
	return Reshape(Concatenate(views, 0), 9*(c+1), b*h*w)
}

// step runs one step on a cells-last state [C,B,H,W] with fire mask
// [1,cells] (nil: every cell fires) and returns the next state and what
// its backward pass needs. It computes what update(perceive(state)) does.
func (lm levelMatrices) step(state, mask *Node) (*Node, stepRecord) {
	d := state.Shape().Dimensions
	cells := d[1] * d[2] * d[3]
	flat := Reshape(state, lm.channels, cells)
	filtered := lm.filter(state)
	perception := Concatenate([]*Node{flat, filtered, Reshape(onesRow(state), 1, cells)}, 0)
	hidden, delta := lm.updateRule(perception)
	if mask != nil {
		delta = Mul(delta, mask)
	}
	next := Reshape(Add(flat, delta), d...)
	return next, stepRecord{dims: d, perception: perception, hidden: hidden, mask: mask}
}

// firingStep is step with the update rule run on the firing cells alone,
// as rows: the state and the filtered channels are turned cells-first,
// [cells, C] and [cells, 2C], where a cell's values are one block to
// gather, and the updates are scattered back the same way.
func (lm levelMatrices) firingStep(state *Node, fired *firing) (*Node, stepRecord) {
	d := state.Shape().Dimensions
	cells := d[1] * d[2] * d[3]
	flat := Reshape(state, lm.channels, cells)
	rows := Concatenate([]*Node{
		Gather(cellsFirst(flat), fired.cells),
		Gather(cellsFirst(lm.filter(state)), fired.cells),
		OnesLike(fired.valid),
	}, 1)
	hidden, delta := lm.updateRuleRows(rows)
	update := Transpose(fired.scatter(Mul(delta, fired.valid), cells), 0, 1)
	next := Reshape(Add(flat, update), d...)
	return next, stepRecord{dims: d, perception: rows, hidden: hidden, fired: fired, state: flat}
}

// cellsFirst transposes x [C, cells] to [cells, C] as a product with the
// identity, whose transposed operand the backends' matrix kernels copy
// in blocks: ONNX Runtime's Transpose moves a 16-row matrix element by
// element, five times slower. Every value is multiplied by one and added
// to zeros: exact.
func cellsFirst(x *Node) *Node {
	c := x.Shape().Dimensions[0]
	return DotGeneral(x, []int{0}, nil, DiagonalWithValue(ScalarOne(x.Graph(), x.DType()), c), []int{0}, nil)
}

// filter returns the perception convolution's 2C channels of a cells-last
// state [C,B,H,W] as [2C, cells]: a product of the kernel and the
// neighbourhoods, or the backend's own convolution where it has a fast one
// (ONNX Runtime: a level-2 step's convolution 9.2 -> 3.7 ms, bench/README.md).
func (lm levelMatrices) filter(state *Node) *Node {
	if lm.conv == nil {
		return Dot(lm.kernelTB, neighbourhoods(state)).Product()
	}
	filtered := ConvGeneral(reflectPadPlanes(state), lm.conv, cellsLastConvolution(2, 3), nil, nil, nil, nil, 1, 1)
	return Add(Reshape(filtered, lm.convBias.Shape().Dimensions[0], -1), lm.convBias)
}

// cellsLastConvolution is the axes of a convolution of a cells-last state
// [C,B,H,W] with an HWIO kernel [3,3,I,O] whose input channels are axis in
// and output channels axis out, giving a cells-last [O,B,H,W].
func cellsLastConvolution(in, out int) compute.ConvolveAxesConfig {
	return compute.ConvolveAxesConfig{
		InputBatch: 1, InputChannels: 0, InputSpatial: []int{2, 3},
		KernelInputChannels: in, KernelOutputChannels: out, KernelSpatial: []int{0, 1},
		OutputBatch: 1, OutputChannels: 0, OutputSpatial: []int{2, 3},
	}
}

// updateRule is the update rule on perception [3C+1, cells] (the last row
// ones): it returns the hidden layer after ReLU [hidden, cells] and the
// update [C, cells].
func (lm levelMatrices) updateRule(perception *Node) (hidden, delta *Node) {
	hidden = denseReLU(lm.denseInTB, perception)
	return hidden, Dot(lm.denseOutT, hidden).Product()
}

// updateRuleRows is updateRule on the perception of some cells as rows,
// [K, 3C+1]: it returns the hidden layer [K, hidden] and the update [K, C].
// With the cells as rows the large operands of both products are their
// left ones, which the backends' matrix kernels read in place.
func (lm levelMatrices) updateRuleRows(rows *Node) (hidden, delta *Node) {
	if fusesDense(rows.Graph().Backend()) {
		hidden = BackendFusedDense(rows, lm.denseInTB, nil, compute.DenseConfig{
			Activation:   compute.ActivationConfig{Type: compute.ActivationRelu},
			WeightLayout: compute.DenseLayoutOutputsInput,
		})
	} else {
		hidden = MaxScalar(DotGeneral(rows, []int{1}, nil, lm.denseInTB, []int{1}, nil), 0)
	}
	return hidden, Dot(hidden, lm.denseOut).Product()
}

// denseReLU is max(weights · x, 0) for weights [out, in] and x [in, cells].
// Backends with a fused dense layer apply the ReLU while each block of the
// product is still in cache, which saves a pass over the [out, cells]
// result (bench/README.md).
func denseReLU(weights, x *Node) *Node {
	if !fusesDense(x.Graph().Backend()) {
		return MaxScalar(Dot(weights, x).Product(), 0)
	}
	return BackendFusedDense(weights, x, nil, compute.DenseConfig{
		Activation:   compute.ActivationConfig{Type: compute.ActivationRelu},
		WeightLayout: compute.DenseLayoutInputOutputs,
	})
}

// fusesDense tells whether the backend has a fused dense layer: the pure
// Go backend runs the ReLU inside the matrix kernel's output loop, ONNX
// Runtime as its own Relu, which is faster there than Max with a zero.
func fusesDense(backend compute.Backend) bool {
	return backend.Capabilities().Operations[compute.OpTypeFusedDense]
}

// updateRuleBackward takes the gradient with respect to the update,
// [C, cells], adds the update rule's weight gradients to grads and returns
// the gradients with respect to the two parts of the perception: the state
// [C, cells] and the filtered channels [2C, cells]. They are two products
// with the two parts of dense_in rather than cuts of one product: as fast,
// and ONNX Runtime's peak memory fell from 2.6 to 2.3 GB without the cuts.
func (lm levelMatrices) updateRuleBackward(perception, hidden, dDelta *Node, grads *levelGradients) (
	dState, dFiltered *Node) {
	accumulate(&grads.denseOut, DotGeneral(hidden, []int{1}, nil, dDelta, []int{1}, nil))
	dHidden := reluBackward(hidden, Dot(lm.denseOut, dDelta).Product())
	accumulate(&grads.denseInTB, DotGeneral(dHidden, []int{1}, nil, perception, []int{1}, nil))
	return Dot(lm.denseInS, dHidden).Product(), Dot(lm.denseInF, dHidden).Product()
}

// updateRuleRowsBackward is updateRuleBackward for cells as rows: rows
// [K, 3C+1], hidden [K, hidden] and dDelta [K, C] in, the gradient for the
// perception without its row of ones, [K, 3C], out: the state's columns,
// then the filtered channels'. One product, where two would each read the
// hidden layer's gradient.
//
// The weight gradients are the transposes of products whose left operand,
// the one the backends transpose while they pack it, is the smaller.
func (lm levelMatrices) updateRuleRowsBackward(rows, hidden, dDelta *Node, grads *levelGradients) *Node {
	accumulate(&grads.denseOut, Transpose(DotGeneral(dDelta, []int{0}, nil, hidden, []int{0}, nil), 0, 1))
	dHidden := reluBackward(hidden, DotGeneral(dDelta, []int{1}, nil, lm.denseOut, []int{1}, nil))
	accumulate(&grads.denseInTB, Transpose(DotGeneral(rows, []int{0}, nil, dHidden, []int{0}, nil), 0, 1))
	return DotGeneral(dHidden, []int{1}, nil, lm.denseIn, []int{1}, nil)
}

// stepBackward takes the gradient of the loss with respect to the state
// after a step, adds the step's weight gradients to grads and returns the
// gradient with respect to the state before it.
func (lm levelMatrices) stepBackward(r stepRecord, dNext *Node, grads *levelGradients) *Node {
	d := r.dims
	c := lm.channels
	cells := d[1] * d[2] * d[3]
	dFlat := flushTiny(Reshape(dNext, c, cells))

	// Only firing cells pass gradient on to the update rule.
	var state, dState, dFiltered *Node
	if r.fired != nil {
		state = Reshape(r.state, d...)
		dDelta := Mul(Gather(cellsFirst(dFlat), r.fired.cells), r.fired.valid)
		dPerception := lm.updateRuleRowsBackward(r.perception, r.hidden, dDelta, grads)
		dPerception = Transpose(r.fired.scatter(dPerception, cells), 0, 1)
		dState, dFiltered = crop(dPerception, 0, 0, c), crop(dPerception, 0, c, 2*c)
	} else {
		state = Reshape(crop(r.perception, 0, 0, c), d...)
		dDelta := dFlat
		if r.mask != nil {
			dDelta = Mul(dDelta, r.mask)
		}
		dState, dFiltered = lm.updateRuleBackward(r.perception, r.hidden, dDelta, grads)
	}

	// The perception convolution. The kernel's gradient needs the step's
	// neighbourhoods again: they are cut anew from the state (on the path
	// without gathering, from the perception's first rows, a node of its
	// own, so that the go backend does not merge them with the forward
	// pass's and keep every step's neighbourhoods, 9(C+1) values per
	// cell, in memory until the backward pass). The state's gradient goes
	// back through the padding the convolution saw.
	accumulate(&grads.kernelB, DotGeneral(neighbourhoods(state), []int{1}, nil, dFiltered, []int{1}, nil))
	dConv := Reshape(reflectPadBackward(lm.filterBackward(dFiltered, d)), c, cells)
	return Reshape(Add(Add(dFlat, dState), dConv), d...)
}

// filterBackward takes the gradient with respect to the filtered channels,
// [2C, cells], and returns the gradient with respect to the reflect-padded
// state the convolution saw, [C,B,H+2,W+2], for a state of dimensions d.
// Where the backend convolves natively that is one more convolution: of
// the gradient padded by two with the kernel turned by 180 degrees, its
// input and output channels swapped (ONNX Runtime: 12 -> 7 ms for a
// level-2 step). Elsewhere each tap's rows of one matrix product are
// shifted back to where the tap looked and summed.
func (lm levelMatrices) filterBackward(dFiltered *Node, d []int) *Node {
	c := lm.channels
	if lm.conv != nil {
		dims := append([]int{2 * c}, d[1:]...)
		return ConvGeneral(Reshape(dFiltered, dims...), Reverse(lm.conv, 0, 1), cellsLastConvolution(3, 2),
			nil, [][2]int{{2, 2}, {2, 2}}, nil, nil, 1, 1)
	}
	dTaps := Dot(lm.kernel, dFiltered).Product() // [9C, cells]
	var dPadded *Node
	for dy := range 3 {
		for dx := range 3 {
			accumulate(&dPadded, placeView(Reshape(crop(dTaps, 0, (3*dy+dx)*c, c), d...), dy, dx))
		}
	}
	return dPadded
}

// tinyGradient is what flushTiny adds and takes away again, 2^-82 (2e-25).
const tinyGradient = 0x1p-82

// flushTiny rounds the values of a state gradient to the spacing of the
// float32 numbers next to tinyGradient (2^-105): values below 2^-106
// (1.2e-32) in magnitude become zero, values from 2^-56 (1.4e-17) up stay
// exactly as they are, those in between move by at most 2^-106. Early in
// training, while the update rule's last layer is still near
// its zero start, the gradient that flows back through the hidden
// channels shrinks with every step, into the subnormal numbers (below
// 1.2e-38), and arithmetic on those takes the CPU a microcode assist each
// time: a training iteration took 1.5 times as long (bench/README.md).
// Gradients of that size change no weight. Adding and subtracting
// tinyGradient does it in two passes over x, where a comparison and a
// select took three (ONNX Runtime: 3% of a training iteration).
func flushTiny(x *Node) *Node {
	grain := Scalar(x.Graph(), x.DType(), tinyGradient)
	return Sub(Add(x, grain), grain)
}

// reluBackward is the gradient through hidden = max(x, 0), given hidden:
// dHidden where hidden > 0, else 0. Backends with a fused activation
// gradient do it in one pass.
func reluBackward(hidden, dHidden *Node) *Node {
	var out *Node
	err := exceptions.TryCatch[error](func() {
		out = BackendFusedActivationVJP(hidden, nil, dHidden, compute.ActivationConfig{Type: compute.ActivationRelu})
	})
	if err == nil {
		return out
	}
	if !compute.IsNotImplemented(err) {
		panic(err)
	}
	positive := ConvertDType(GreaterThan(hidden, ScalarZero(hidden.Graph(), hidden.DType())), hidden.DType())
	return Mul(dHidden, positive)
}

// reflectPadBackward is the gradient through reflectPadPlanes: the gradient
// of each padding row and column is added to the cell it mirrors.
func reflectPadBackward(dPadded *Node) *Node {
	for _, axis := range []int{2, 3} {
		n := dPadded.Shape().Dimensions[axis] - 2
		interior := crop(dPadded, axis, 1, n)
		first, last := crop(dPadded, axis, 0, 1), crop(dPadded, axis, n+1, 1)
		if n < 4 {
			// Rows 1 and n-2 may coincide: add the mirrors with zero padding.
			interior = Add(interior, padAxis(first, axis, 1, n-2))
			dPadded = Add(interior, padAxis(last, axis, n-2, 1))
			continue
		}
		parts := []*Node{
			crop(interior, axis, 0, 1),
			Add(crop(interior, axis, 1, 1), first),
		}
		if n > 4 {
			parts = append(parts, crop(interior, axis, 2, n-4))
		}
		parts = append(parts, Add(crop(interior, axis, n-2, 1), last), crop(interior, axis, n-1, 1))
		dPadded = Concatenate(parts, axis)
	}
	return dPadded
}

// runLevelRecorded runs steps steps of one level on state [B,H,W,C] like
// runLevel and keeps what the backward pass needs. It returns the final
// state, cells-last [C,B,H,W].
func (m *Model) runLevelRecorded(state *Node, level, steps int) (*Node, levelMatrices, []stepRecord) {
	g := state.Graph()
	lm := m.weights(g, level).matrices()
	d := state.Shape().Dimensions
	cells := d[0] * d[1] * d[2]
	masks := m.fireMasks(g, steps, d)
	gathers := masks != nil && gathersFiringCells(m.Backend, m.Config.FireRate)
	capacity := firingCapacity(cells, m.Config.FireRate)
	records := make([]stepRecord, steps)
	state = toCellsLast(state)
	for i := range steps {
		var mask *Node
		if masks != nil {
			mask = Reshape(SliceAxis(masks, 0, AxisElem(i)), 1, cells)
		}
		if gathers {
			state, records[i] = lm.firingStep(state, firingCells(mask, capacity))
		} else {
			state, records[i] = lm.step(state, mask)
		}
	}
	return state, lm, records
}

// backpropLevel runs the backward pass of a level's steps, from the
// gradient with respect to its final state, and returns the gradient with
// respect to its initial state and the gradients of its weights (all
// cells-last).
func backpropLevel(lm levelMatrices, records []stepRecord, dFinal *Node) (*Node, levelGradients) {
	var grads levelGradients
	d := dFinal
	for i := len(records) - 1; i >= 0; i-- {
		d = lm.stepBackward(records[i], d, &grads)
	}
	return d, grads
}

// variableGradients converts a level's accumulated gradients to the shapes
// of its variables, keyed by store path.
func (m *Model) variableGradients(level int, grads levelGradients, into map[string]*Node) {
	c, hidden := m.Config.Channels, m.Config.Hidden
	scope := levelScopes[level]
	views := Reshape(grads.kernelB, 9, c+1, 2*c)
	kernel := Reshape(crop(views, 1, 0, c), 3, 3, c, 2*c)
	convBias := Reshape(Slice(views, AxisElem(0), AxisElem(c)), 2*c)
	into[variablePath(scope, "conv_a", "weights")] = crop(kernel, 3, 0, c)
	into[variablePath(scope, "conv_b", "weights")] = crop(kernel, 3, c, c)
	into[variablePath(scope, "conv_a", "biases")] = crop(convBias, 0, 0, c)
	into[variablePath(scope, "conv_b", "biases")] = crop(convBias, 0, c, c)
	into[variablePath(scope, "dense_in", "weights")] = Transpose(crop(grads.denseInTB, 1, 0, 3*c), 0, 1)
	into[variablePath(scope, "dense_in", "biases")] = Reshape(crop(grads.denseInTB, 1, 3*c, 1), hidden)
	into[variablePath(scope, "dense_out", "weights")] = keepImageChannel(grads.denseOut)
}

// cellsLastLogits is the lesion channel of a cells-last state, [B,H,W].
func cellsLastLogits(state *Node) *Node {
	d := state.Shape().Dimensions
	return Reshape(SliceAxis(state, 0, AxisElem(1)), d[1], d[2], d[3])
}

// inferLogits runs both levels on whole images [B,N,N,1] and returns level
// 2's lesion logits [B,N,N]: what Logits(Forward(image)) computes, with
// the cells-last steps of training. Forward stays in the layout that
// automatic differentiation and the growth frames use.
func (m *Model) inferLogits(image *Node) *Node {
	low, _, _ := m.runLevelRecorded(m.initialState(Downscale(image, m.Config.Scale)), 0, m.Config.Steps1)
	start := levelTwoStart(m.Config.Scale, fromCellsLast(low), image)
	final, _, _ := m.runLevelRecorded(start, 1, m.Config.Steps2)
	return cellsLastLogits(final)
}

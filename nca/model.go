// Package nca implements the two-level Med-NCA for binary lesion
// segmentation in GoMLX: the cell state and its update rule, the Dice+Focal
// loss, segmentation metrics, training with checkpoints and resume, and
// inference with a stochastic test-time ensemble.
//
// # The model
//
// Every pixel is a cell with a state of [Config.Channels] channels: channel
// 0 holds the grayscale image (reset to it after every step), channel 1 the
// lesion logit, and the rest are hidden. One step lets every cell perceive
// its 3x3 neighbourhood through two learned convolutions with reflect
// padding, computes an update with a two-layer network shared by all cells,
// and applies it where a random fire mask says the cell fires.
//
// Level 1 runs [Config.Steps1] steps on the image downscaled by
// [Config.Scale]; its state is upsampled (nearest) to full resolution,
// channel 0 is replaced by the full-resolution image, and level 2 (its own
// weights) runs [Config.Steps2] steps. During training level 2 runs on one
// random patch per sample, which keeps memory and time low; at inference
// it runs on the whole image.
//
// # Using it
//
// [NewModel] builds a model on a backend from [NewBackend]; [Train] trains
// it into an output folder; [Model.Predict] and [Model.Ensemble] segment
// images; [Evaluate] scores a dataset.
package nca

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
)

// Names of the variable scopes of the two levels.
var levelScopes = [2]string{"level1", "level2"}

// rngStatePath is the store path of the random state of the fire masks.
const rngStatePath = "/fire_rng"

// Model is a two-level Med-NCA: its hyperparameters, its variables in a
// GoMLX store, and the backend it runs on. Executables are compiled on
// first use and cached per input shape.
type Model struct {
	Config  Config
	Store   *model.Store
	Backend compute.Backend

	predictExec *model.Exec
	growthExec  *model.Exec
}

// NewModel creates a model with freshly initialised weights drawn from
// cfg.Seed: the same seed gives the same weights on every backend.
func NewModel(backend compute.Backend, cfg Config) (*Model, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	m := &Model{Config: cfg, Store: model.NewStore(), Backend: backend}
	if err := m.initVariables(); err != nil {
		return nil, err
	}
	return m, nil
}

// initVariables creates the weights of both levels with PyTorch's default
// initialisation (uniform in ±1/sqrt(fan_in)) and a zero last layer, so the
// untrained model leaves the state unchanged.
func (m *Model) initVariables() error {
	c := m.Config.Channels
	h := m.Config.Hidden
	rng := rand.New(rand.NewPCG(uint64(m.Config.Seed), 0x6d65646e6361))
	uniform := func(fanIn int, dims ...int) *tensors.Tensor {
		bound := 1 / math.Sqrt(float64(fanIn))
		n := 1
		for _, d := range dims {
			n *= d
		}
		data := make([]float32, n)
		for i := range data {
			data[i] = float32((2*rng.Float64() - 1) * bound)
		}
		return tensors.FromFlatDataAndDimensions(data, dims...)
	}

	for _, level := range levelScopes {
		vars := []struct {
			scope, name string
			value       *tensors.Tensor
		}{
			{"conv_a", "weights", uniform(9*c, 3, 3, c, c)},
			{"conv_a", "biases", uniform(9*c, c)},
			{"conv_b", "weights", uniform(9*c, 3, 3, c, c)},
			{"conv_b", "biases", uniform(9*c, c)},
			{"dense_in", "weights", uniform(3*c, 3*c, h)},
			{"dense_in", "biases", uniform(3*c, h)},
			{"dense_out", "weights", tensors.FromFlatDataAndDimensions(make([]float32, h*c), h, c)},
		}
		for _, v := range vars {
			if _, err := m.Store.CreateVariable(variablePath(level, v.scope, v.name), v.value); err != nil {
				return fmt.Errorf("creating %s/%s/%s: %w", level, v.scope, v.name, err)
			}
		}
	}

	rngState, err := RNGStateFromSeed(m.Config.Seed)
	if err != nil {
		return err
	}
	v, err := m.Store.CreateVariable(rngStatePath, rngState)
	if err != nil {
		return err
	}
	v.SetTrainable(false)
	return nil
}

// NumParameters returns the number of trainable weights of both levels.
func (m *Model) NumParameters() int {
	n := 0
	for v := range m.Store.IterVariables() {
		if v.Trainable {
			n += v.Shape().Size()
		}
	}
	return n
}

// levelWeights are the graph nodes of one level's variables.
type levelWeights struct {
	convKernel, convBias *Node // conv_a and conv_b fused: [3,3,C,2C] and [1,1,1,2C]
	convAsDot            bool  // run the convolution as a matrix product (see convolve3x3)
	denseIn, denseInBias *Node // [3C,H] and [1,H]
	denseOut             *Node // [H,C]
}

// variablePath is the store path of a weight, e.g. /level1/conv_a/weights.
func variablePath(level, layer, name string) string {
	return "/" + level + "/" + layer + "/" + name
}

func (m *Model) weights(g *Graph, level int) levelWeights {
	get := func(layer, name string) *Node {
		path := variablePath(levelScopes[level], layer, name)
		v := m.Store.GetVariable(path)
		if v == nil {
			panic(fmt.Sprintf("nca: variable %s missing from the store", path))
		}
		return v.NodeValue(g)
	}

	// Both perception filters run as one convolution with 2C outputs: the
	// same arithmetic as two convolutions, in one pass over the state.
	c := m.Config.Channels
	return levelWeights{
		convKernel: Concatenate([]*Node{get("conv_a", "weights"), get("conv_b", "weights")}, 3),
		convAsDot:  convolvesAsMatrixProduct(m.Backend),
		convBias: Reshape(Concatenate([]*Node{get("conv_a", "biases"), get("conv_b", "biases")}, 0),
			1, 1, 1, 2*c),
		denseIn:     get("dense_in", "weights"),
		denseInBias: Reshape(get("dense_in", "biases"), 1, m.Config.Hidden),
		denseOut:    keepImageChannel(get("dense_out", "weights")),
	}
}

// keepImageChannel zeroes the column of the update rule's last layer that
// writes channel 0, so the update leaves the image channel exactly as it
// is (x + 0 == x) and no step has to reset it. The gradient of that
// column is zero, as when the channel was overwritten after each step.
func keepImageChannel(denseOut *Node) *Node {
	c := denseOut.Shape().Dimensions[1]
	keep := make([]float32, c)
	for i := 1; i < c; i++ {
		keep[i] = 1
	}
	return Mul(denseOut, Const(denseOut.Graph(), tensors.FromFlatDataAndDimensions(keep, 1, c)))
}

// ReflectPad pads the two spatial axes of an NHWC tensor by one cell,
// mirroring without repeating the edge (row -1 is row 1), so border cells
// see a neighbourhood like any other cell.
func ReflectPad(x *Node) *Node {
	for _, axis := range []int{1, 2} {
		n := x.Shape().Dimensions[axis]
		first := SliceAxis(x, axis, AxisRange(1, 2))
		last := SliceAxis(x, axis, AxisRange(n-2, n-1))
		x = Concatenate([]*Node{first, x, last}, axis)
	}
	return x
}

// perceive returns concat(state, conv_a(state), conv_b(state)): what each
// cell knows of itself and its neighbours, [B,H,W,3C].
func perceive(state *Node, w levelWeights) *Node {
	var filtered *Node
	if w.convAsDot {
		filtered = convolve3x3(ReflectPad(state), w.convKernel)
	} else {
		filtered = Convolve(ReflectPad(state), w.convKernel).NoPadding().Done()
	}
	filtered = Add(filtered, w.convBias)
	return Concatenate([]*Node{state, filtered}, 3)
}

// convolvesAsMatrixProduct tells whether the perception convolution should
// run as a matrix product on backend: on the pure Go backend, whose
// convolution is a plain loop, it made a training step 3-5x faster; ONNX
// Runtime's own convolution is faster and needs less memory than the
// matrix form, and XLA has cuDNN.
func convolvesAsMatrixProduct(backend compute.Backend) bool {
	return backend != nil && strings.HasPrefix(strings.ToLower(backend.Name()), "go")
}

// convolve3x3 is the valid 3x3 cross-correlation of a padded NHWC tensor
// [B,H+2,W+2,C] with an HWIO kernel [3,3,C,O], written as one matrix
// product: the nine shifted views of the state side by side (in the
// kernel's order: row, column, channel) times the kernel flattened to
// [9C,O]. The same sums as a convolution, but the matrix product and its
// gradient run on the backends' fast matrix kernels, where the pure Go
// backend's convolution (and the kernel gradient above all) is a plain loop.
func convolve3x3(padded, kernel *Node) *Node {
	d := padded.Shape().Dimensions
	b, h, wd, c := d[0], d[1]-2, d[2]-2, d[3]
	taps := make([]*Node, 0, 9)
	for dy := range 3 {
		for dx := range 3 {
			taps = append(taps, Slice(padded, AxisRange(), AxisRange(dy, dy+h), AxisRange(dx, dx+wd)))
		}
	}
	neighbourhoods := Reshape(Concatenate(taps, 3), b*h*wd, 9*c)
	k := kernel.Shape().Dimensions
	out := Dot(neighbourhoods, Reshape(kernel, 9*c, k[3])).Product()
	return Reshape(out, b, h, wd, k[3])
}

// update returns the change every cell proposes, [B,H,W,C].
func update(perception *Node, w levelWeights) *Node {
	dims := perception.Shape().Dimensions
	b, h, wd := dims[0], dims[1], dims[2]
	flat := Reshape(perception, b*h*wd, dims[3])
	hidden := Dot(flat, w.denseIn).Product()
	hidden = relu(Add(hidden, w.denseInBias))
	out := Dot(hidden, w.denseOut).Product()
	return Reshape(out, b, h, wd, w.denseOut.Shape().Dimensions[1])
}

// relu is max(x, 0). The forward pass is a Max; the backward pass
// multiplies the incoming gradient by the 0/1 mask of x > 0, the gradient
// of x * mask with the mask held constant. Max's own gradient goes through
// Sub, two Signs, an Add and a Mul over the update rule's largest tensor,
// and ONNX Runtime's Where (the other usual way to write it) runs tens of
// times slower than a Mul on tensors of that size. At x == 0 the gradient
// is 0, as in PyTorch.
func relu(x *Node) *Node {
	out, _ := InternalFusedOpCaller(
		func() *Node { return MaxScalar(x, 0) },
		func() *Node {
			positive := ConvertDType(GreaterThan(x, ScalarZero(x.Graph(), x.DType())), x.DType())
			return Mul(x, StopGradient(positive))
		},
		true)
	return out
}

// setImageChannel replaces channel 0 of state with image [B,H,W,1].
func setImageChannel(state, image *Node) *Node {
	return Concatenate([]*Node{image, SliceAxis(state, 3, AxisRangeToEnd(1))}, 3)
}

// fireMasks draws the per-cell fire masks of steps steps at once,
// [steps,B,H,W,1], from the store's random state, or nil when every cell
// always fires.
func (m *Model) fireMasks(g *Graph, steps int, dims []int) *Node {
	if m.Config.FireRate >= 1 || steps == 0 {
		return nil
	}
	rngVar := m.Store.GetVariable(rngStatePath)
	shape := shapes.Make(dtypes.Float32, append([]int{steps}, dims[0], dims[1], dims[2], 1)...)
	newState, u := RandomUniform(rngVar.NodeValue(g), shape)
	rngVar.SetNodeValue(newState)
	return ConvertDType(LessThan(u, Scalar(g, dtypes.Float32, m.Config.FireRate)), dtypes.Float32)
}

// fireMasksFromSeed draws fire masks like fireMasks from a fixed seed,
// without touching the model's random state; for tests and pictures.
func (m *Model) fireMasksFromSeed(g *Graph, steps int, dims []int) *Node {
	shape := shapes.Make(dtypes.Float32, append([]int{steps}, dims[0], dims[1], dims[2], 1)...)
	_, u := RandomUniform(RNGStateFromSeedForGraph(g, m.Config.Seed), shape)
	return ConvertDType(LessThan(u, Scalar(g, dtypes.Float32, m.Config.FireRate)), dtypes.Float32)
}

// runLevel runs steps steps of one level on state, whose channel 0 holds
// the image and keeps it (see keepImageChannel). If frames is not nil, it
// receives the state after every step.
func (m *Model) runLevel(state *Node, level, steps int, frames *[]*Node) *Node {
	if steps == 0 {
		return state
	}
	g := state.Graph()
	w := m.weights(g, level)
	masks := m.fireMasks(g, steps, state.Shape().Dimensions)
	for step := range steps {
		delta := update(perceive(state, w), w)
		if masks != nil {
			delta = Mul(delta, Squeeze(SliceAxis(masks, 0, AxisElem(step)), 0))
		}
		state = Add(state, delta)
		if frames != nil {
			*frames = append(*frames, state)
		}
	}
	return state
}

// initialState is the image in channel 0 and zeros elsewhere.
func (m *Model) initialState(image *Node) *Node {
	dims := image.Shape().Dimensions
	zeros := Zeros(image.Graph(), shapes.Make(image.DType(), dims[0], dims[1], dims[2], m.Config.Channels-1))
	return Concatenate([]*Node{image, zeros}, 3)
}

// Downscale averages scale x scale blocks of an NHWC tensor.
func Downscale(x *Node, scale int) *Node {
	if scale == 1 {
		return x
	}
	d := x.Shape().Dimensions
	x = Reshape(x, d[0], d[1]/scale, scale, d[2]/scale, scale, d[3])
	return ReduceMean(x, 2, 4)
}

// Upscale repeats every cell of an NHWC tensor into a scale x scale block
// (nearest-neighbour upsampling).
func Upscale(x *Node, scale int) *Node {
	if scale == 1 {
		return x
	}
	d := x.Shape().Dimensions
	x = Reshape(x, d[0], d[1], 1, d[2], 1, d[3])
	x = BroadcastToDims(x, d[0], d[1], scale, d[2], scale, d[3])
	return Reshape(x, d[0], d[1]*scale, d[2]*scale, d[3])
}

// levelOne runs level 1 on the downscaled image and returns its final
// state at low resolution, [B,N/scale,N/scale,C].
func (m *Model) levelOne(image *Node, frames *[]*Node) *Node {
	small := Downscale(image, m.Config.Scale)
	return m.runLevel(m.initialState(small), 0, m.Config.Steps1, frames)
}

// Forward runs both levels on whole images [B,N,N,1] and returns the final
// level-2 state [B,N,N,C]. Frames, if not nil, receives every intermediate
// state of both levels.
func (m *Model) Forward(image *Node, frames *[]*Node) *Node {
	low := m.levelOne(image, frames)
	state := levelTwoStart(m.Config.Scale, low, image)
	return m.runLevel(state, 1, m.Config.Steps2, frames)
}

// ForwardPatch runs level 1 on whole images [B,N,N,1] and level 2 on one
// patch per sample. rows and cols [B,P/scale,N/scale] are one-hot matrices
// that select the patch's rows and columns of level 1's cells (the patch
// origin is a multiple of the scale, so a patch is made of whole level-1
// cells); imagePatch [B,P,P,1] is the image under the patch. Selecting with
// matrices keeps every sample's crop differentiable on every backend.
func (m *Model) ForwardPatch(image, rows, cols, imagePatch *Node) *Node {
	state := patchInitialState(m.Config.Scale, m.levelOne(image, nil), rows, cols, imagePatch)
	return m.runLevel(state, 1, m.Config.Steps2, nil)
}

// Logits returns the lesion channel of a state as [B,H,W].
func Logits(state *Node) *Node {
	return Squeeze(SliceAxis(state, 3, AxisElem(1)), 3)
}

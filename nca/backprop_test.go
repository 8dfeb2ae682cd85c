package nca

import (
	"math"
	"testing"

	"github.com/gomlx/compute"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// backpropModel is a tiny model with stochastic fire masks and non-zero
// last layers, so that gradients reach every weight of both levels.
func backpropModel(t *testing.T) *Model {
	t.Helper()
	cfg := tinyConfig()
	cfg.Steps1, cfg.Steps2 = 4, 5
	require.Less(t, cfg.FireRate, 1.0)
	m, err := NewModel(testBackend(t), cfg)
	require.NoError(t, err)
	randomizeVariable(t, m, "/level1/dense_out/weights", 0.3)
	randomizeVariable(t, m, "/level2/dense_out/weights", 0.3)
	return m
}

// TestBackpropMatchesAutodiff compares the hand-written backward pass of
// training with GoMLX's automatic differentiation of the same loss, on
// whole images and on patches.
func TestBackpropMatchesAutodiff(t *testing.T) {
	m := backpropModel(t)
	cfg := m.Config
	images, masks := syntheticBatch(cfg, 2, 11)
	s, err := NewStepper(m)
	require.NoError(t, err)
	rows, cols, imagePatch, maskPatch := s.samplePatches(images, masks, 2)
	vars := m.trainableVariables()

	// Both gradients of one loss, from one graph, the second pass drawing
	// its fire masks from the random state the first started from.
	compare := func(t *testing.T, forward func(image *Node, in []*Node) (*Node, *Node),
		levelTwo func(image *Node, in []*Node) func(low *Node) *Node, inputs ...any) {
		exec, err := model.NewExec(m.Backend, m.Store, func(scope *model.Scope, in []*Node) []*Node {
			g := in[0].Graph()
			readVariablesAtRunTime(scope, g)
			image := in[0]
			rng := m.Store.GetVariable(rngStatePath)
			start := rng.NodeValue(g)
			state, mask := forward(image, in)
			autoLoss := Loss(cfg, Logits(state), Squeeze(mask, 3)).Total
			params := make([]*Node, len(vars))
			for i, v := range vars {
				params[i] = v.NodeValue(g)
			}
			out := append([]*Node{autoLoss}, Gradient(autoLoss, params...)...)
			rng.SetNodeValue(start)
			loss, grads := m.lossAndGradients(image, mask, levelTwo(image, in))
			out = append(out, loss.Total)
			for _, v := range vars {
				out = append(out, grads[v.Path()])
			}
			return out
		})
		require.NoError(t, err)
		out, err := exec.Exec(inputs...)
		require.NoError(t, err)
		n := len(vars)
		autoLoss := tensors.MustCopyFlatData[float32](out[0])[0]
		manualLoss := tensors.MustCopyFlatData[float32](out[n+1])[0]
		assert.InDelta(t, autoLoss, manualLoss, 1e-5*float64(autoLoss), "loss")
		for i, v := range vars {
			want := tensors.MustCopyFlatData[float32](out[1+i])
			got := tensors.MustCopyFlatData[float32](out[n+2+i])
			require.Equal(t, v.Shape().Dimensions, out[n+2+i].Shape().Dimensions, v.Path())
			scale := maxAbs(want)
			require.Greater(t, scale, 0.0, "autodiff gradient of %s is all zeros", v.Path())
			assert.InDeltaSlice(t, want, got, 1e-4*scale, "gradient of %s", v.Path())
		}
	}

	n := cfg.ImageSize
	t.Run("whole image", func(t *testing.T) {
		compare(t,
			func(image *Node, in []*Node) (*Node, *Node) { return m.Forward(image, nil), in[1] },
			func(image *Node, in []*Node) func(low *Node) *Node {
				return func(low *Node) *Node { return levelTwoStart(cfg.Scale, low, image) }
			},
			tensors.FromFlatDataAndDimensions(images, 2, n, n, 1), tensors.FromFlatDataAndDimensions(masks, 2, n, n, 1))
	})
	t.Run("patches", func(t *testing.T) {
		compare(t,
			func(image *Node, in []*Node) (*Node, *Node) { return m.ForwardPatch(image, in[1], in[2], in[3]), in[4] },
			func(image *Node, in []*Node) func(low *Node) *Node {
				return func(low *Node) *Node { return patchInitialState(cfg.Scale, low, in[1], in[2], in[3]) }
			},
			tensors.FromFlatDataAndDimensions(images, 2, n, n, 1), rows, cols, imagePatch, maskPatch)
	})
}

// TestInferMatchesForward checks the cells-last inference of the pure Go
// backend against Forward, fire masks included.
func TestInferMatchesForward(t *testing.T) {
	m := backpropModel(t)
	n := m.Config.ImageSize
	images, _ := syntheticBatch(m.Config, 2, 12)
	exec, err := model.NewExec(m.Backend, m.Store, func(scope *model.Scope, image *Node) []*Node {
		readVariablesAtRunTime(scope, image.Graph())
		rng := m.Store.GetVariable(rngStatePath)
		start := rng.NodeValue(image.Graph())
		want := Logits(m.Forward(image, nil))
		rng.SetNodeValue(start)
		return []*Node{want, m.inferLogits(image)}
	})
	require.NoError(t, err)
	out, err := exec.Exec(tensors.FromFlatDataAndDimensions(images, 2, n, n, 1))
	require.NoError(t, err)
	want := tensors.MustCopyFlatData[float32](out[0])
	got := tensors.MustCopyFlatData[float32](out[1])
	require.Equal(t, []int{2, n, n}, out[1].Shape().Dimensions)
	assert.Greater(t, maxAbs(want), 0.0)
	assert.InDeltaSlice(t, want, got, 1e-4*maxAbs(want)+1e-6)
}

// TestPadValueIsNegativeZero checks that the steps pad with -0 even in a
// graph that already holds a 0 constant (GoMLX caches scalar constants by
// value, and -0 == 0): a +0 would give the same results, but the pure Go
// backend fills with it element by element.
func TestPadValueIsNegativeZero(t *testing.T) {
	exec, err := NewExec(testBackend(t), func(x *Node) *Node {
		x = Add(x, ScalarZero(x.Graph(), x.DType()))
		return Pad(x, negativeZero(x), compute.PadAxis{Start: 1})
	})
	require.NoError(t, err)
	defer exec.Finalize()
	out := tensors.MustCopyFlatData[float32](exec.MustCall([]float32{2})[0])
	require.Equal(t, []float32{0, 2}, out)
	assert.True(t, math.Signbit(float64(out[0])), "the pad value lost its sign: %v", out[0])
}

// TestFlushTiny checks that state gradients below tinyGradient become zero
// and the others pass unchanged.
func TestFlushTiny(t *testing.T) {
	exec, err := NewExec(testBackend(t), flushTiny)
	require.NoError(t, err)
	defer exec.Finalize()
	// Subnormal and tiny values vanish, values from 2^-56 up are kept
	// bit for bit, those in between move by at most 2^-106.
	tiny := float32(math.Ldexp(1, -106))
	in := []float32{1e-40, -1e-35, tiny / 4, 0, 1.5e-17, -0.5, 3e-7, 1e30, 1e-30, -2e-29}
	out := tensors.MustCopyFlatData[float32](exec.MustCall(in)[0])
	assert.Equal(t, []float32{0, 0, 0, 0, 1.5e-17, -0.5, 3e-7, 1e30}, out[:8])
	for i, x := range in[8:] {
		assert.InDelta(t, x, out[8+i], float64(tiny), "value %g", x)
		assert.NotZero(t, out[8+i], "value %g", x)
	}
}

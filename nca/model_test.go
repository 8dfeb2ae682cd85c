package nca

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/mednca/mednca/isic"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// testBackend returns the backend the tests run on: MEDNCA_BACKEND if set,
// else the fastest available.
func testBackend(t testing.TB) compute.Backend {
	t.Helper()
	backend, _, err := NewBackend("")
	require.NoError(t, err)
	return backend
}

// tinyConfig is a model small enough for gradient checks and quick tests.
func tinyConfig() Config {
	c := DefaultConfig()
	c.ImageSize = 16
	c.PatchSize = 8
	c.Scale = 4
	c.Steps1 = 3
	c.Steps2 = 3
	c.Hidden = 16
	c.Channels = 6
	c.BatchSize = 2
	c.Synthetic = 24
	c.Epochs = 2
	c.Gallery = 2
	return c
}

// syntheticBatch returns n synthetic images and masks of the config's size.
func syntheticBatch(cfg Config, n int, seed int64) (images, masks []float32) {
	opts := isic.DefaultSyntheticOptions()
	opts.Size = cfg.ImageSize
	d := isic.Synthetic(n, seed, opts)
	return d.Images, d.Masks
}

func TestParameterCount(t *testing.T) {
	m, err := NewModel(testBackend(t), DefaultConfig())
	require.NoError(t, err)
	// Per level: two 3x3 16->16 convolutions with biases, 48->128 with
	// bias, 128->16 without.
	perLevel := 2*(3*3*16*16+16) + 48*128 + 128 + 128*16
	require.Equal(t, 2*perLevel, m.NumParameters())
	require.Equal(t, 25920, m.NumParameters())
}

func TestReflectPad(t *testing.T) {
	backend := testBackend(t)
	// A 3x4 single-channel image holding 10*row+col.
	input := make([]float32, 12)
	for r := range 3 {
		for c := range 4 {
			input[r*4+c] = float32(10*r + c)
		}
	}
	out := MustExecOnce(backend, func(x *Node) *Node { return ReflectPad(x) },
		tensors.FromFlatDataAndDimensions(input, 1, 3, 4, 1))
	require.Equal(t, []int{1, 5, 6, 1}, out.Shape().Dimensions)
	got := tensors.MustCopyFlatData[float32](out)
	// Row -1 mirrors row 1 and row 3 mirrors row 1; the same for columns.
	mirror := func(i, n int) int {
		if i < 0 {
			return -i
		}
		if i >= n {
			return 2*n - 2 - i
		}
		return i
	}
	for r := -1; r <= 3; r++ {
		for c := -1; c <= 4; c++ {
			want := float32(10*mirror(r, 3) + mirror(c, 4))
			assert.Equal(t, want, got[(r+1)*6+c+1], "padded cell (%d,%d)", r, c)
		}
	}
}

func TestConvolutionAsMatrixProduct(t *testing.T) {
	backend := testBackend(t)
	const b, h, w, c, out = 2, 5, 6, 3, 4
	rng := rand.New(rand.NewPCG(7, 8))
	random := func(size int) []float32 {
		v := make([]float32, size)
		for i := range v {
			v[i] = float32(2*rng.Float64() - 1)
		}
		return v
	}
	state := tensors.FromFlatDataAndDimensions(random(b*h*w*c), b, h, w, c)
	kernel := tensors.FromFlatDataAndDimensions(random(3*3*c*out), 3, 3, c, out)

	// Both forms of the perception convolution must give the same sums.
	results := MustExecOnceN(backend, func(x, k *Node) []*Node {
		padded := ReflectPad(x)
		return []*Node{Convolve(padded, k).NoPadding().Done(), convolve3x3(padded, k)}
	}, state, kernel)
	require.Equal(t, []int{b, h, w, out}, results[1].Shape().Dimensions)
	want := tensors.MustCopyFlatData[float32](results[0])
	got := tensors.MustCopyFlatData[float32](results[1])
	assert.InDeltaSlice(t, want, got, 1e-5)
}

func TestFireRateHalfTheCells(t *testing.T) {
	cfg := tinyConfig()
	m, err := NewModel(testBackend(t), cfg)
	require.NoError(t, err)
	masks := MustExecOnce(m.Backend, func(g *Graph) *Node {
		return m.fireMasksFromSeed(g, 4, []int{8, 32, 32})
	})
	values := tensors.MustCopyFlatData[float32](masks)
	var fired float64
	for _, v := range values {
		require.True(t, v == 0 || v == 1, "fire mask value %g is not 0 or 1", v)
		fired += float64(v)
	}
	fraction := fired / float64(len(values))
	assert.InDelta(t, 0.5, fraction, 0.02, "fraction of cells that fire")
}

func TestImageChannelNeverChanges(t *testing.T) {
	cfg := tinyConfig()
	cfg.Steps1, cfg.Steps2 = 4, 4
	m, err := NewModel(testBackend(t), cfg)
	require.NoError(t, err)
	// Give the last layers weights, so the update touches every channel.
	randomizeVariable(t, m, "/level1/dense_out/weights", 0.5)
	randomizeVariable(t, m, "/level2/dense_out/weights", 0.5)
	images, _ := syntheticBatch(cfg, 1, 3)

	frames, err := m.Growth(images)
	require.NoError(t, err)
	require.Len(t, frames, cfg.Steps1+cfg.Steps2)
	small := downscaleHost(images, cfg.ImageSize, cfg.Scale)
	for _, f := range frames {
		want := images
		if f.Level == 1 {
			want = small
		}
		require.InDeltaSlice(t, want, f.Channels[0], 1e-6, "level %d step %d changed the image", f.Level, f.Step)
	}
	// The other channels did change: the test would pass trivially otherwise.
	last := frames[len(frames)-1]
	var changed float64
	for _, v := range last.Channels[2] {
		changed += math.Abs(float64(v))
	}
	assert.Greater(t, changed, 0.0)
}

func randomizeVariable(t *testing.T, m *Model, path string, scale float64) {
	t.Helper()
	v := m.Store.GetVariable(path)
	require.NotNil(t, v, path)
	rng := rand.New(rand.NewPCG(1, 2))
	data := make([]float32, v.Shape().Size())
	for i := range data {
		data[i] = float32((2*rng.Float64() - 1) * scale)
	}
	require.NoError(t, v.SetValue(tensors.FromFlatDataAndDimensions(data, v.Shape().Dimensions...)))
}

func downscaleHost(image []float32, n, scale int) []float32 {
	s := n / scale
	out := make([]float32, s*s)
	for y := range n {
		for x := range n {
			out[(y/scale)*s+x/scale] += image[y*n+x] / float32(scale*scale)
		}
	}
	return out
}

func TestSameSeedSameResult(t *testing.T) {
	cfg := tinyConfig()
	images, masks := syntheticBatch(cfg, 2, 5)
	losses := func() []float64 {
		m, err := NewModel(testBackend(t), cfg)
		require.NoError(t, err)
		s, err := NewStepper(m)
		require.NoError(t, err)
		var out []float64
		for range 4 {
			r, err := s.Step(images, masks, 2, 1e-2)
			require.NoError(t, err)
			out = append(out, r.Loss)
		}
		return out
	}
	first, second := losses(), losses()
	require.Equal(t, first, second)
	assert.NotEqual(t, first[0], first[3], "training changed nothing")
}

func TestOverfitTinyBatch(t *testing.T) {
	if testing.Short() {
		t.Skip("overfitting takes a few hundred steps; skipped with -short")
	}
	cfg := tinyConfig()
	cfg.PatchSize = 0
	cfg.Steps1, cfg.Steps2 = 6, 6
	cfg.Hidden = 32
	cfg.FireRate = 1
	images, masks := syntheticBatch(cfg, 2, 11)
	m, err := NewModel(testBackend(t), cfg)
	require.NoError(t, err)
	s, err := NewStepper(m)
	require.NoError(t, err)
	var first, last float64
	for i := range 150 {
		r, err := s.Step(images, masks, 2, 3e-3)
		require.NoError(t, err)
		require.True(t, r.Finite, "step %d", i)
		if i == 0 {
			first = r.Loss
		}
		last = r.Loss
	}
	t.Logf("loss %.4f -> %.4f", first, last)
	assert.Less(t, last, 0.5*first, "a tiny batch must be overfitted")

	probs, err := m.Predict(images, 2)
	require.NoError(t, err)
	dice := ScoreMask(probs, masks).Dice
	assert.Greater(t, dice, 0.7, "Dice on the overfitted batch")
}

// lossShape is the shape of the test logits: two samples of 5x5.
var lossShape = shapes.Make(dtypes.Float64, 2, 5, 5)

func TestLossGradientMatchesFiniteDifferences(t *testing.T) {
	backend := testBackend(t)
	cfg := DefaultConfig()
	rng := rand.New(rand.NewPCG(3, 4))
	logits := make([]float64, lossShape.Size())
	masks := make([]float64, lossShape.Size())
	for i := range logits {
		logits[i] = 3 * (2*rng.Float64() - 1)
		if rng.Float64() < 0.4 {
			masks[i] = 1
		}
	}
	lossOf := func(x *Node, y *Node) *Node { return Loss(cfg, x, y).Total }
	gradFn := MustNewExec(backend, func(x, y *Node) []*Node {
		loss := lossOf(x, y)
		return []*Node{loss, Gradient(loss, x)[0]}
	})
	lossFn := MustNewExec(backend, lossOf)
	yT := tensors.FromFlatDataAndDimensions(masks, lossShape.Dimensions...)
	out := gradFn.MustExec(tensors.FromFlatDataAndDimensions(logits, lossShape.Dimensions...), yT)
	grad := tensors.MustCopyFlatData[float64](out[1])

	for _, i := range []int{0, 7, 24, 31, 49} {
		numeric := centralDifference(logits, i, func(x []float64) float64 {
			return lossFn.MustExec(tensors.FromFlatDataAndDimensions(x, lossShape.Dimensions...), yT)[0].
				Value().(float64)
		})
		assert.InDelta(t, numeric, grad[i], 1e-6+1e-4*math.Abs(numeric), "d loss / d logit[%d]", i)
	}
}

func TestStepGradientMatchesFiniteDifferences(t *testing.T) {
	backend := testBackend(t)
	const b, n, c, h = 1, 5, 4, 6
	rng := rand.New(rand.NewPCG(5, 6))
	random := func(size int, scale float64) []float64 {
		v := make([]float64, size)
		for i := range v {
			v[i] = scale * (2*rng.Float64() - 1)
		}
		return v
	}
	state := random(b*n*n*c, 1)
	kernel := random(3*3*c*2*c, 0.3)
	w1 := random(3*c*h, 0.3)
	w2 := random(h*c, 0.3)
	weight := random(b*n*n*c, 1) // a random projection makes a scalar of the new state
	dims := map[string][]int{"state": {b, n, n, c}, "kernel": {3, 3, c, 2 * c}, "w1": {3 * c, h}, "w2": {h, c}}
	inputs := map[string][]float64{"state": state, "kernel": kernel, "w1": w1, "w2": w2}
	order := []string{"state", "kernel", "w1", "w2"}

	objective := func(x, k, wIn, wOut *Node) *Node {
		g := x.Graph()
		w := levelWeights{
			convKernel:  k,
			convAsDot:   convolvesAsMatrixProduct(backend),
			convBias:    Const(g, tensors.FromFlatDataAndDimensions(random(2*c, 0.1), 1, 1, 1, 2*c)),
			denseIn:     wIn,
			denseInBias: Const(g, tensors.FromFlatDataAndDimensions(random(h, 0.1), 1, h)),
			denseOut:    wOut,
		}
		next := Add(x, update(perceive(x, w), w))
		return ReduceAllSum(Mul(next, Const(g, tensors.FromFlatDataAndDimensions(weight, b, n, n, c))))
	}
	// The constant biases above are drawn once, when the graph is built, so
	// both executables must share one graph function call: build one exec.
	exec := MustNewExec(backend, func(x, k, wIn, wOut *Node) []*Node {
		y := objective(x, k, wIn, wOut)
		return append([]*Node{y}, Gradient(y, x, k, wIn, wOut)...)
	})
	call := func(values map[string][]float64) []*tensors.Tensor {
		args := make([]any, len(order))
		for i, name := range order {
			args[i] = tensors.FromFlatDataAndDimensions(values[name], dims[name]...)
		}
		return exec.MustExec(args...)
	}
	out := call(inputs)
	tolerance := gradientTolerance(t, backend)
	for k, name := range order {
		grad := tensors.MustCopyFlatData[float64](out[k+1])
		for _, i := range []int{0, len(grad) / 3, len(grad) - 1} {
			numeric := centralDifference(inputs[name], i, func(x []float64) float64 {
				changed := map[string][]float64{}
				for key, v := range inputs {
					changed[key] = v
				}
				changed[name] = x
				return call(changed)[0].Value().(float64)
			})
			assert.InDelta(t, numeric, grad[i], 1e-6+tolerance*math.Abs(numeric), "d step / d %s[%d]", name, i)
		}
	}
}

// gradientTolerance is the relative tolerance of the finite-difference
// checks: 1e-4 where the backend convolves float64 in full precision, 2e-2
// where it convolves them in float32 (ONNX Runtime on the CPU does), which
// makes central differences of step 1e-5 that noisy.
func gradientTolerance(t *testing.T, backend compute.Backend) float64 {
	t.Helper()
	probe := MustExecOnce(backend, func(g *Graph) *Node {
		x := Const(g, tensors.FromFlatDataAndDimensions([]float64{1 + 1e-9}, 1, 1, 1, 1))
		k := Const(g, tensors.FromFlatDataAndDimensions([]float64{1}, 1, 1, 1, 1))
		return AddScalar(Convolve(x, k).NoPadding().Done(), -1)
	})
	if math.Abs(tensors.MustCopyFlatData[float64](probe)[0]-1e-9) < 1e-12 {
		return 1e-4
	}
	t.Logf("backend %s convolves float64 with reduced precision: relative tolerance 2e-2", backend.Name())
	return 2e-2
}

// centralDifference estimates the derivative of f along coordinate i.
func centralDifference(x []float64, i int, f func([]float64) float64) float64 {
	const eps = 1e-5
	plus := append([]float64(nil), x...)
	minus := append([]float64(nil), x...)
	plus[i] += eps
	minus[i] -= eps
	return (f(plus) - f(minus)) / (2 * eps)
}

func TestEnsembleStatistics(t *testing.T) {
	// Two runs that agree on one pixel and disagree on the other.
	r := ensembleStats([]float32{1, 0, 1, 1}, 2, 2)
	assert.Equal(t, []float32{1, 0.5}, r.Mean)
	assert.InDeltaSlice(t, []float32{0, 0.5}, r.Std, 1e-6)
	assert.InDelta(t, 0.5/1.5, r.Quality, 1e-9)
}

func TestOtsuMaskFindsTheDarkRegion(t *testing.T) {
	// A dark disk on a bright, slightly noisy background.
	const n = 32
	image := make([]float32, n*n)
	truth := make([]float32, n*n)
	rng := rand.New(rand.NewPCG(7, 8))
	for y := range n {
		for x := range n {
			dx, dy := float64(x-12), float64(y-18)
			v := 0.8
			if dx*dx+dy*dy < 64 {
				v, truth[y*n+x] = 0.3, 1
			}
			image[y*n+x] = float32(v + 0.05*(rng.Float64()-0.5))
		}
	}
	scores := ScoreMask(OtsuMask(image), truth)
	assert.Equal(t, 1.0, scores.Dice)
}

package nca

import (
	"fmt"
	"math"
	"math/rand/v2"

	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
)

// StepResult is what one training step reports.
type StepResult struct {
	Loss, Dice, Focal float64 // Dice is the soft Dice loss term
	GradNorm          float64 // global gradient norm before clipping
	Finite            bool    // false when the step was skipped for a NaN or Inf
}

// Stepper runs single training steps on a model: one forward pass, the
// loss, the gradients and one Adam update. [Train] uses it for every batch;
// benchmarks and notebooks can drive it directly. It owns the compiled
// train-step executable and the random source of patch positions.
type Stepper struct {
	m    *Model
	exec *model.Exec
	step int // steps done, which seeds the patch positions of the next
}

// NewStepper prepares training steps for m, creating the optimiser state
// if the model has none yet.
func NewStepper(m *Model) (*Stepper, error) {
	return newStepper(m, 0)
}

// newStepper continues after step steps: the patch positions of a step
// depend only on the seed and the step number, so a resumed run draws the
// same patches as one that was never interrupted.
func newStepper(m *Model, step int) (*Stepper, error) {
	if err := m.initOptimizer(); err != nil {
		return nil, err
	}
	s := &Stepper{m: m, step: step}
	var err error
	if m.Config.usesPatches() {
		s.exec, err = model.NewExec(m.Backend, m.Store, s.patchStepGraph)
	} else {
		s.exec, err = model.NewExec(m.Backend, m.Store, s.wholeStepGraph)
	}
	if err != nil {
		return nil, err
	}
	s.exec.SetMaxCache(4)
	return s, nil
}

// readVariablesAtRunTime makes the graph read the model's variables as
// parameters on every call. Without it, backends that prefer constants bake
// the weights into an inference graph when it is compiled, and a graph
// compiled before training would keep predicting with the old weights.
func readVariablesAtRunTime(scope *model.Scope, g *Graph) {
	scope.SetTraining(g, true)
}

func (s *Stepper) patchStepGraph(scope *model.Scope, inputs []*Node) []*Node {
	readVariablesAtRunTime(scope, inputs[0].Graph())
	image, rows, cols, imagePatch, maskPatch, lr := inputs[0], inputs[1], inputs[2], inputs[3], inputs[4], inputs[5]
	return s.trainingStep(image, maskPatch, lr, func(low *Node) *Node {
		return patchInitialState(s.m.Config.Scale, low, rows, cols, imagePatch)
	})
}

func (s *Stepper) wholeStepGraph(scope *model.Scope, inputs []*Node) []*Node {
	readVariablesAtRunTime(scope, inputs[0].Graph())
	image, mask, lr := inputs[0], inputs[1], inputs[2]
	return s.trainingStep(image, mask, lr, func(low *Node) *Node {
		return levelTwoStart(s.m.Config.Scale, low, image)
	})
}

// trainingStep builds one training step: both levels forward, the loss on
// mask, the gradients and the Adam update. levelTwo makes level 2's
// initial state from level 1's final state.
func (s *Stepper) trainingStep(image, mask, lr *Node, levelTwo func(low *Node) *Node) []*Node {
	loss, grads := s.m.lossAndGradients(image, mask, levelTwo)
	out := s.m.applyAdam(loss, grads, lr)
	return []*Node{out.loss, out.dice, out.focal, out.gradNorm, out.finite}
}

// lossAndGradients runs both levels on image [B,N,N,1], level 2 from the
// initial state levelTwo makes of level 1's final state, and returns the
// loss on mask [B,h,w,1] (h x w: level 2's size) and its gradient for
// every trainable variable, keyed by store path.
func (m *Model) lossAndGradients(image, mask *Node, levelTwo func(low *Node) *Node) (LossTerms, map[string]*Node) {
	lowCL, lm1, records1 := m.runLevelRecorded(m.initialState(Downscale(image, m.Config.Scale)), 0, m.Config.Steps1)
	start := levelTwo(fromCellsLast(lowCL))
	final, lm2, records2 := m.runLevelRecorded(start, 1, m.Config.Steps2)
	loss := Loss(m.Config, cellsLastLogits(final), Squeeze(mask, 3))

	// Automatic differentiation for the loss and for what joins the levels
	// (small tensors), the hand-written backward pass for the steps.
	dStart, grads2 := backpropLevel(lm2, records2, Gradient(loss.Total, final)[0])
	dLow := Gradient(ReduceAllSum(Mul(start, StopGradient(fromCellsLast(dStart)))), lowCL)[0]
	_, grads1 := backpropLevel(lm1, records1, dLow)
	grads := make(map[string]*Node)
	m.variableGradients(0, grads1, grads)
	m.variableGradients(1, grads2, grads)
	return loss, grads
}

// patchInitialState is level 2's initial state on one patch per sample:
// the patch's cells of level 1's final state low, upsampled, with the
// image patch in channel 0. rows and cols [B,P/scale,N/scale] are one-hot
// matrices that select the patch's rows and columns of level 1's cells.
func patchInitialState(scale int, low, rows, cols, imagePatch *Node) *Node {
	low = Einsum("bpy,byxc->bpxc", rows, low)
	low = Einsum("bqx,bpxc->bpqc", cols, low)
	return levelTwoStart(scale, low, imagePatch)
}

// levelTwoStart is level 2's initial state: level 1's final state low
// [B,h,w,C] upsampled by scale, with image [B,h*scale,w*scale,1] in
// channel 0.
func levelTwoStart(scale int, low, image *Node) *Node {
	return setImageChannel(Upscale(low, scale), image)
}

// Step trains on one batch: images and masks [B,N,N,1] flattened row-major.
func (s *Stepper) Step(images, masks []float32, batch int, lr float64) (StepResult, error) {
	cfg := s.m.Config
	n := cfg.ImageSize
	if len(images) != batch*n*n || len(masks) != batch*n*n {
		return StepResult{}, fmt.Errorf("batch of %d images: got %d image and %d mask values, expected %d each",
			batch, len(images), len(masks), batch*n*n)
	}
	imageT := tensors.FromFlatDataAndDimensions(images, batch, n, n, 1)
	lrT := tensors.FromValue(float32(lr))

	var outputs []*tensors.Tensor
	var err error
	if s.m.Config.usesPatches() {
		rows, cols, imagePatch, maskPatch := s.samplePatches(images, masks, batch)
		outputs, err = s.exec.Exec(imageT, rows, cols, imagePatch, maskPatch, lrT)
	} else {
		maskT := tensors.FromFlatDataAndDimensions(masks, batch, n, n, 1)
		outputs, err = s.exec.Exec(imageT, maskT, lrT)
	}
	if err != nil {
		return StepResult{}, err
	}
	s.step++
	v := make([]float64, len(outputs))
	for i, t := range outputs {
		v[i] = float64(tensors.MustCopyFlatData[float32](t)[0])
		_ = t.FinalizeAll()
	}
	return StepResult{Loss: v[0], Dice: v[1], Focal: v[2], GradNorm: v[3], Finite: v[4] > 0.5}, nil
}

// samplePatches draws one patch origin per sample (a multiple of the
// scale) and returns the level-1 row and column selectors and the image and
// mask under each patch.
func (s *Stepper) samplePatches(images, masks []float32, batch int) (
	rows, cols, imagePatch, maskPatch *tensors.Tensor) {
	cfg := s.m.Config
	n, p, scale := cfg.ImageSize, cfg.PatchSize, cfg.Scale
	cells, patchCells := n/scale, p/scale
	rowSel := make([]float32, batch*patchCells*cells)
	colSel := make([]float32, batch*patchCells*cells)
	imgP := make([]float32, batch*p*p)
	maskP := make([]float32, batch*p*p)
	positions := (n-p)/scale + 1
	rng := rand.New(rand.NewPCG(uint64(cfg.Seed), uint64(s.step)))
	for b := range batch {
		oy, ox := rng.IntN(positions), rng.IntN(positions)
		for i := range patchCells {
			rowSel[(b*patchCells+i)*cells+oy+i] = 1
			colSel[(b*patchCells+i)*cells+ox+i] = 1
		}
		for y := range p {
			src := b*n*n + (oy*scale+y)*n + ox*scale
			dst := b*p*p + y*p
			copy(imgP[dst:dst+p], images[src:src+p])
			copy(maskP[dst:dst+p], masks[src:src+p])
		}
	}
	return tensors.FromFlatDataAndDimensions(rowSel, batch, patchCells, cells),
		tensors.FromFlatDataAndDimensions(colSel, batch, patchCells, cells),
		tensors.FromFlatDataAndDimensions(imgP, batch, p, p, 1),
		tensors.FromFlatDataAndDimensions(maskP, batch, p, p, 1)
}

// Predict segments images [B,N,N,1] (flattened row-major, N = size) and
// returns lesion probabilities [B,N,N]. The fire mask stays stochastic, as
// in training, so two calls differ slightly; see [Model.Ensemble].
func (m *Model) Predict(images []float32, batch int) ([]float32, error) {
	n := m.Config.ImageSize
	if len(images) != batch*n*n {
		return nil, fmt.Errorf("predict: got %d values for %d images of %dx%d", len(images), batch, n, n)
	}
	if m.predictExec == nil {
		exec, err := model.NewExec(m.Backend, m.Store, func(scope *model.Scope, image *Node) *Node {
			readVariablesAtRunTime(scope, image.Graph())
			if convolvesAsMatrixProduct(m.Backend) {
				// On the pure Go backend the cells-last steps run inference
				// in 0.42 s instead of 0.65 s (bench/README.md); ONNX Runtime
				// is faster with its own convolution.
				return Sigmoid(m.inferLogits(image))
			}
			return Sigmoid(Logits(m.Forward(image, nil)))
		})
		if err != nil {
			return nil, err
		}
		m.predictExec = exec
	}
	outputs, err := m.predictExec.Exec(tensors.FromFlatDataAndDimensions(images, batch, n, n, 1))
	if err != nil {
		return nil, err
	}
	probs := tensors.MustCopyFlatData[float32](outputs[0])
	_ = outputs[0].FinalizeAll()
	return probs, nil
}

// EnsembleResult is the outcome of K stochastic runs on one image.
type EnsembleResult struct {
	Mean, Std []float32 // per pixel, N*N
	// Quality is sum(Std)/sum(Mean): low when the runs agree on a clear
	// lesion, high when the segmentation is uncertain.
	Quality float64
}

// Ensemble runs the model k times on one image (size*size values) with
// independent fire masks, all in one batch, and returns the mean
// prediction, the per-pixel standard deviation and the quality score.
func (m *Model) Ensemble(image []float32, k int) (EnsembleResult, error) {
	n := m.Config.ImageSize
	if k < 1 {
		return EnsembleResult{}, fmt.Errorf("ensemble size %d: must be at least 1", k)
	}
	tiled := make([]float32, 0, k*n*n)
	for range k {
		tiled = append(tiled, image...)
	}
	probs, err := m.Predict(tiled, k)
	if err != nil {
		return EnsembleResult{}, err
	}
	return ensembleStats(probs, k, n*n), nil
}

func ensembleStats(probs []float32, k, pixels int) EnsembleResult {
	r := EnsembleResult{Mean: make([]float32, pixels), Std: make([]float32, pixels)}
	var sumStd, sumMean float64
	for i := range pixels {
		var mean, sq float64
		for j := range k {
			p := float64(probs[j*pixels+i])
			mean += p
			sq += p * p
		}
		mean /= float64(k)
		std := math.Sqrt(max(sq/float64(k)-mean*mean, 0))
		r.Mean[i], r.Std[i] = float32(mean), float32(std)
		sumStd += std
		sumMean += mean
	}
	if sumMean > 0 {
		r.Quality = sumStd / sumMean
	}
	return r
}

// Frame is the state of one image after one step, for growth pictures.
type Frame struct {
	Level, Step, Size int
	// Channels[c] is channel c of the state, Size*Size values; channel 1 is
	// given as a probability (sigmoid of the logit).
	Channels [][]float32
}

// Growth runs both levels on one image and returns the state after every
// step, to show how the segmentation grows.
func (m *Model) Growth(image []float32) ([]Frame, error) {
	n := m.Config.ImageSize
	if len(image) != n*n {
		return nil, fmt.Errorf("growth: got %d values, expected one %dx%d image", len(image), n, n)
	}
	if m.growthExec == nil {
		exec, err := model.NewExec(m.Backend, m.Store, func(scope *model.Scope, image *Node) []*Node {
			readVariablesAtRunTime(scope, image.Graph())
			var frames []*Node
			m.Forward(image, &frames)
			for i, f := range frames {
				lesion := Sigmoid(SliceAxis(f, 3, AxisElem(1)))
				frames[i] = Concatenate([]*Node{SliceAxis(f, 3, AxisElem(0)), lesion,
					SliceAxis(f, 3, AxisRangeToEnd(2))}, 3)
			}
			return frames
		})
		if err != nil {
			return nil, err
		}
		m.growthExec = exec
	}
	outputs, err := m.growthExec.Exec(tensors.FromFlatDataAndDimensions(image, 1, n, n, 1))
	if err != nil {
		return nil, err
	}
	frames := make([]Frame, len(outputs))
	for i, t := range outputs {
		level, step := 1, i+1
		if i >= m.Config.Steps1 {
			level, step = 2, i-m.Config.Steps1+1
		}
		size := t.Shape().Dimensions[1]
		data := tensors.MustCopyFlatData[float32](t)
		_ = t.FinalizeAll()
		channels := make([][]float32, m.Config.Channels)
		for c := range channels {
			channels[c] = make([]float32, size*size)
			for p := range size * size {
				channels[c][p] = data[p*m.Config.Channels+c]
			}
		}
		frames[i] = Frame{Level: level, Step: step, Size: size, Channels: channels}
	}
	return frames, nil
}

package nca

import (
	"fmt"
	"math"

	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
)

// Store paths of the optimiser's state.
const (
	adamScope    = "/adam"
	adamStepPath = "/adam/step"
)

// trainableVariables returns the model's weights in creation order, the
// order of gradients and optimiser state.
func (m *Model) trainableVariables() []*model.Variable {
	var vars []*model.Variable
	for v := range m.Store.IterVariables() {
		if v.Trainable {
			vars = append(vars, v)
		}
	}
	return vars
}

// initOptimizer creates Adam's moment estimates (zeros) and step counter,
// unless they already exist (after loading a checkpoint).
func (m *Model) initOptimizer() error {
	if m.Store.GetVariable(adamStepPath) != nil {
		return nil
	}
	for _, v := range m.trainableVariables() {
		for _, moment := range []string{"m", "v"} {
			zeros := tensors.FromShape(v.Shape())
			mv, err := m.Store.CreateVariable(adamScope+"/"+moment+v.Path(), zeros)
			if err != nil {
				return fmt.Errorf("creating Adam state for %s: %w", v.Path(), err)
			}
			mv.SetTrainable(false)
		}
	}
	step, err := m.Store.CreateVariable(adamStepPath, tensors.FromValue(float32(0)))
	if err != nil {
		return err
	}
	step.SetTrainable(false)
	return nil
}

// stepOutputs are the scalars a training step reports.
type stepOutputs struct {
	loss, dice, focal, gradNorm, finite *Node
}

// applyAdam clips the gradients of loss (keyed by variable path) to the
// configured global norm and applies one Adam step with learning rate lr.
// If the loss or any gradient is not finite the step changes nothing:
// weights, moments and step counter keep their values, and finite reports
// 0.
func (m *Model) applyAdam(loss LossTerms, gradients map[string]*Node, lr *Node) stepOutputs {
	g := loss.Total.Graph()
	cfg := m.Config
	vars := m.trainableVariables()
	params := make([]*Node, len(vars))
	grads := make([]*Node, len(vars))
	for i, v := range vars {
		params[i] = v.NodeValue(g)
		grads[i] = gradients[v.Path()]
		if grads[i] == nil {
			panic(fmt.Sprintf("nca: no gradient for %s", v.Path()))
		}
	}

	// Global norm over all gradients; a NaN or Inf anywhere shows in it.
	var sumSquares *Node
	for _, grad := range grads {
		s := ReduceAllSum(Square(grad))
		if sumSquares == nil {
			sumSquares = s
		} else {
			sumSquares = Add(sumSquares, s)
		}
	}
	gradNorm := Sqrt(sumSquares)
	finite := LogicalAnd(isFinite(loss.Total), isFinite(gradNorm))

	clipScale := ScalarOne(g, dtypes.Float32)
	if cfg.ClipNorm > 0 {
		clipScale = Min(clipScale, Div(Scalar(g, dtypes.Float32, cfg.ClipNorm), AddScalar(gradNorm, 1e-6)))
	}

	stepVar := m.Store.GetVariable(adamStepPath)
	oldStep := stepVar.NodeValue(g)
	step := AddScalar(oldStep, 1)
	stepVar.SetNodeValue(Where(finite, step, oldStep))
	correction1 := OneMinus(Pow(Scalar(g, dtypes.Float32, cfg.Beta1), step))
	correction2 := OneMinus(Pow(Scalar(g, dtypes.Float32, cfg.Beta2), step))

	for i, v := range vars {
		grad := Mul(grads[i], clipScale)
		mVar := m.Store.GetVariable(adamScope + "/m" + v.Path())
		vVar := m.Store.GetVariable(adamScope + "/v" + v.Path())
		oldM, oldV := mVar.NodeValue(g), vVar.NodeValue(g)
		newM := Add(MulScalar(oldM, cfg.Beta1), MulScalar(grad, 1-cfg.Beta1))
		newV := Add(MulScalar(oldV, cfg.Beta2), MulScalar(Square(grad), 1-cfg.Beta2))
		mHat := Div(newM, correction1)
		vHat := Div(newV, correction2)
		delta := Mul(lr, Div(mHat, AddScalar(Sqrt(vHat), cfg.Epsilon)))
		mVar.SetNodeValue(Where(finite, newM, oldM))
		vVar.SetNodeValue(Where(finite, newV, oldV))
		v.SetNodeValue(Where(finite, Sub(params[i], delta), params[i]))
	}
	return stepOutputs{
		loss:     loss.Total,
		dice:     loss.Dice,
		focal:    loss.Focal,
		gradNorm: gradNorm,
		finite:   ConvertDType(finite, dtypes.Float32),
	}
}

// isFinite is true where x is neither NaN nor ±Inf. It is written with a
// comparison, which every backend supports: NaN compares false and ±Inf
// exceeds the largest float.
func isFinite(x *Node) *Node {
	return LessOrEqual(Abs(x), Scalar(x.Graph(), x.DType(), math.MaxFloat32))
}

// weightsFinite reports whether every weight of the model is finite; after
// a step that was skipped they always are, unless a loaded checkpoint was
// already corrupt.
func (m *Model) weightsFinite() bool {
	for _, v := range m.trainableVariables() {
		data := tensors.MustCopyFlatData[float32](v.MustValue())
		for _, x := range data {
			if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
				return false
			}
		}
	}
	return true
}

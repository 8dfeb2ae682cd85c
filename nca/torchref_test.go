package nca

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// jsonTensor is the tensor layout of bench/torch_mednca.py's check mode.
type jsonTensor struct {
	Shape []int     `json:"shape"`
	Data  []float32 `json:"data"`
}

// TestMatchesPyTorchReference runs the same weights and image through this
// model and through the PyTorch reference of bench/torch_mednca.py, and
// compares probabilities, loss and gradients.
func TestMatchesPyTorchReference(t *testing.T) {
	python := pythonWithTorch()
	if python == "" {
		t.Skip("no python3 with torch found (Debian: apt-get install python3-torch, or set " +
			"MEDNCA_PYTHON); skipping the comparison with the PyTorch reference")
	}
	cfg := DefaultConfig()
	cfg.ImageSize, cfg.PatchSize, cfg.Steps1, cfg.Steps2, cfg.FireRate = 16, 0, 3, 3, 1
	m, err := NewModel(testBackend(t), cfg)
	require.NoError(t, err)
	randomizeVariable(t, m, "/level1/dense_out/weights", 0.1)
	randomizeVariable(t, m, "/level2/dense_out/weights", 0.1)
	images, masks := syntheticBatch(cfg, 2, 9)
	n := cfg.ImageSize

	// Export the weights and the input.
	dir := t.TempDir()
	weights := map[string]jsonTensor{}
	vars := m.trainableVariables()
	for _, v := range vars {
		weights[v.Path()] = jsonTensor{v.Shape().Dimensions, tensors.MustCopyFlatData[float32](v.MustValue())}
	}
	input := map[string]any{
		"image": jsonTensor{[]int{2, n, n, 1}, images}, "mask": jsonTensor{[]int{2, n, n, 1}, masks},
		"fire_rate": 1.0, "steps1": cfg.Steps1, "steps2": cfg.Steps2, "scale": cfg.Scale,
	}
	writeJSON(t, filepath.Join(dir, "weights.json"), weights)
	writeJSON(t, filepath.Join(dir, "input.json"), input)

	script := filepath.Join("..", "bench", "torch_mednca.py")
	cmd := exec.Command(python, script, "check", filepath.Join(dir, "weights.json"),
		filepath.Join(dir, "input.json"), "--threads", "1")
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	require.NoError(t, err, "running %s", script)
	var torch struct {
		Probabilities jsonTensor            `json:"probabilities"`
		Loss          float64               `json:"loss"`
		Gradients     map[string]jsonTensor `json:"gradients"`
	}
	require.NoError(t, json.Unmarshal(out, &torch))

	// The same computation here: probabilities, loss and gradients on the
	// whole image.
	exec, err := model.NewExec(m.Backend, m.Store, func(scope *model.Scope, image, mask *Node) []*Node {
		readVariablesAtRunTime(scope, image.Graph())
		logits := Logits(m.Forward(image, nil))
		loss := Loss(cfg, logits, Squeeze(mask, 3)).Total
		params := make([]*Node, len(vars))
		for i, v := range vars {
			params[i] = v.NodeValue(image.Graph())
		}
		out := append([]*Node{Sigmoid(logits), loss}, Gradient(loss, params...)...)
		// And the gradients of training's hand-written backward pass.
		_, grads := m.lossAndGradients(image, mask, func(low *Node) *Node {
			return levelTwoStart(cfg.Scale, low, image)
		})
		for _, v := range vars {
			out = append(out, grads[v.Path()])
		}
		return out
	})
	require.NoError(t, err)
	outputs, err := exec.Exec(tensors.FromFlatDataAndDimensions(images, 2, n, n, 1),
		tensors.FromFlatDataAndDimensions(masks, 2, n, n, 1))
	require.NoError(t, err)

	probs := tensors.MustCopyFlatData[float32](outputs[0])
	require.Len(t, torch.Probabilities.Data, len(probs))
	assert.InDeltaSlice(t, torch.Probabilities.Data, probs, 1e-4, "probabilities")
	loss := float64(tensors.MustCopyFlatData[float32](outputs[1])[0])
	assert.InDelta(t, torch.Loss, loss, 1e-4*torch.Loss, "loss")
	for i, v := range vars {
		grad := tensors.MustCopyFlatData[float32](outputs[2+i])
		want := torch.Gradients[v.Path()].Data
		require.Len(t, want, len(grad), v.Path())
		scale := maxAbs(want)
		assert.InDeltaSlice(t, want, grad, 1e-3*scale+1e-7, "gradient of %s", v.Path())
		manual := tensors.MustCopyFlatData[float32](outputs[2+len(vars)+i])
		assert.InDeltaSlice(t, want, manual, 1e-3*scale+1e-7, "training's gradient of %s", v.Path())
	}
}

// pythonWithTorch returns a Python interpreter that can import torch:
// $MEDNCA_PYTHON, python3 on the PATH, or Debian's /usr/bin/python3.
func pythonWithTorch() string {
	for _, python := range []string{os.Getenv("MEDNCA_PYTHON"), "python3", "/usr/bin/python3"} {
		if python != "" && exec.Command(python, "-c", "import torch").Run() == nil {
			return python
		}
	}
	return ""
}

func writeJSON(t *testing.T, path string, value any) {
	t.Helper()
	data, err := json.Marshal(value)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(path, data, 0o644))
}

func maxAbs(values []float32) float64 {
	var m float64
	for _, v := range values {
		m = max(m, float64(v), -float64(v))
	}
	return m
}

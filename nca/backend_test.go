package nca

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/pkg/errors"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// requireSpec checks that spec parses into name and options.
func requireSpec(t *testing.T, spec, name, options string) {
	t.Helper()
	gotName, gotOptions, err := parseBackendSpec(spec)
	require.NoError(t, err, "spec %q", spec)
	assert.Equal(t, name, gotName, "name of spec %q", spec)
	assert.Equal(t, options, gotOptions, "options of spec %q", spec)
}

func TestBackendSpecParsing(t *testing.T) {
	requireSpec(t, "", BackendAuto, "")
	requireSpec(t, "auto", BackendAuto, "")
	requireSpec(t, "go", BackendGo, "")
	requireSpec(t, "go,ops_sequential", BackendGo, "ops_sequential")
	requireSpec(t, "go:ops_sequential", BackendGo, "ops_sequential")
	requireSpec(t, "ONNX", BackendONNX, "")
	requireSpec(t, "onnx:cpu", BackendONNX, "")
	requireSpec(t, "onnx,cpu_mem_arena", BackendONNX, "cpu_mem_arena")
	requireSpec(t, "xla:cuda", BackendXLACUDA, "")
	requireSpec(t, "cuda", BackendXLACUDA, "")
	requireSpec(t, "xla:cuda,memory_fraction=0.5", BackendXLACUDA, "memory_fraction=0.5")

	_, _, err := parseBackendSpec("tpu")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "auto, go, onnx, xla:cuda")
}

// backendTestGraph computes sigmoid(a·b) and a sum over it: a matrix
// product, an elementwise op and a reduction, the three kinds of work of
// the update rule.
func backendTestGraph(a, b *graph.Node) (*graph.Node, *graph.Node) {
	y := graph.Sigmoid(graph.MatMul(a, b))
	return y, graph.ReduceAllSum(y)
}

// runBackendTestGraph runs backendTestGraph on backend with fixed inputs
// and returns both outputs as flat slices.
func runBackendTestGraph(t *testing.T, backend compute.Backend) ([]float32, float32) {
	t.Helper()
	const rows, inner, cols = 6, 48, 16
	a := make([]float32, rows*inner)
	for i := range a {
		a[i] = float32(i%7-3) / 10
	}
	b := make([]float32, inner*cols)
	for i := range b {
		b[i] = float32(i%5-2) / 8
	}
	outputs, err := graph.CallOnceN(backend, backendTestGraph,
		tensors.FromFlatDataAndDimensions(a, rows, inner),
		tensors.FromFlatDataAndDimensions(b, inner, cols))
	require.NoError(t, err)
	require.Len(t, outputs, 2)
	y := tensors.MustCopyFlatData[float32](outputs[0])
	sum := tensors.MustCopyFlatData[float32](outputs[1])
	require.Len(t, y, rows*cols)
	require.Len(t, sum, 1)
	return y, sum[0]
}

func TestBackendGoRunsGraph(t *testing.T) {
	backend, info, err := NewBackend("go")
	require.NoError(t, err)
	defer backend.Finalize()
	assert.Equal(t, BackendGo, info.Name)
	assert.True(t, info.Available)

	// Row 0, column 0 by hand: sigmoid(sum_k a[0,k]*b[k,0]).
	y, sum := runBackendTestGraph(t, backend)
	var dot float64
	for k := range 48 {
		dot += float64(float32(k%7-3)/10) * float64(float32((k*16)%5-2)/8)
	}
	assert.InDelta(t, 1/(1+math.Exp(-dot)), y[0], 1e-5)
	var total float32
	for _, v := range y {
		total += v
	}
	assert.InDelta(t, total, sum, 1e-3)
}

func TestBackendFromEnvironment(t *testing.T) {
	t.Setenv(BackendEnv, "go,ops_parallel")
	backend, info, err := NewBackend("")
	require.NoError(t, err)
	defer backend.Finalize()
	assert.Equal(t, BackendGo, info.Name)
	assert.Equal(t, "ops_sequential,ops_parallel", info.Config, "options given come last and win")

	t.Setenv(BackendEnv, "go,no_such_option")
	_, _, err = NewBackend("")
	require.Error(t, err, "the Go backend rejects unknown options")
	assert.Contains(t, err.Error(), "no_such_option")
}

func TestBackendAutoWithoutGPU(t *testing.T) {
	if hasNVIDIADevice() {
		t.Skip("this machine has an NVIDIA GPU: auto may pick xla:cuda")
	}
	backend, info, err := NewBackend("auto")
	require.NoError(t, err)
	defer backend.Finalize()
	want := BackendGo
	if onnxBackendInfo().Available {
		want = BackendONNX
	}
	assert.Equal(t, want, info.Name)
}

func TestBackendsListed(t *testing.T) {
	infos := AvailableBackends()
	require.Len(t, infos, 3)
	names := []string{infos[0].Name, infos[1].Name, infos[2].Name}
	assert.Equal(t, []string{BackendXLACUDA, BackendONNX, BackendGo}, names)
	for _, info := range infos {
		assert.True(t, info.Available || info.Problem != "",
			"backend %s is unavailable without saying why", info.Name)
		assert.NotEmpty(t, info.Description)
	}
	assert.True(t, infos[2].Available, "the Go backend is always available")
}

func TestBackendONNXRuntimeSearch(t *testing.T) {
	// An explicit library path wins, and a wrong one is reported by name.
	lib := filepath.Join(t.TempDir(), "libonnxruntime.so.1")
	require.NoError(t, os.WriteFile(lib, nil, 0o644))
	t.Setenv(ONNXRuntimeEnv, lib)
	found, _, err := FindONNXRuntime()
	require.NoError(t, err)
	assert.Equal(t, lib, found)

	t.Setenv(ONNXRuntimeEnv, lib+".missing")
	_, _, err = FindONNXRuntime()
	require.Error(t, err)
	assert.Contains(t, err.Error(), ONNXRuntimeEnv)

	// Without the variable, node_modules in a parent of the current
	// directory is found, as after scripts/install-onnxruntime.sh.
	t.Setenv(ONNXRuntimeEnv, "")
	root := t.TempDir()
	nodeLib := filepath.Join(root, onnxNodeLibrarySubpath())
	require.NoError(t, os.MkdirAll(filepath.Dir(nodeLib), 0o755))
	require.NoError(t, os.WriteFile(nodeLib, nil, 0o644))
	work := filepath.Join(root, "a", "b")
	require.NoError(t, os.MkdirAll(work, 0o755))
	t.Chdir(work)
	found, searched, err := FindONNXRuntime()
	require.NoError(t, err)
	assert.Equal(t, nodeLib, found)
	assert.Len(t, searched, 3, "found in the third folder: b, a, root")
}

func TestBackendONNXRuntimeMissing(t *testing.T) {
	t.Setenv(ONNXRuntimeEnv, "")
	t.Setenv("HOME", t.TempDir())
	t.Setenv("XDG_CACHE_HOME", "")
	t.Chdir(t.TempDir())
	if _, _, err := FindONNXRuntime(); err == nil {
		t.Skip("a libonnxruntime is installed next to the test binary")
	}
	_, _, err := FindONNXRuntime()
	require.Error(t, err)
	assert.Contains(t, err.Error(), "scripts/install-onnxruntime.sh")
}

func TestBackendOutOfMemory(t *testing.T) {
	for _, msg := range []string{
		"RESOURCE_EXHAUSTED: Out of memory while trying to allocate 1.2GiB",
		"CUDA_ERROR_OUT_OF_MEMORY: out of memory",
		"onnxruntime: Failed to allocate memory for requested buffer of size 4294967296",
		"std::bad_alloc",
		"mmap: cannot allocate memory",
	} {
		assert.True(t, IsOutOfMemory(errors.New(msg)), msg)
		wrapped := errors.WithMessage(errors.New(msg), "training step 3")
		assert.True(t, IsOutOfMemory(wrapped), "wrapped: %s", msg)
	}
	assert.False(t, IsOutOfMemory(nil))
	assert.False(t, IsOutOfMemory(errors.New("shape mismatch: [8,64,64,16] vs [8,64,64,1]")))
	assert.False(t, IsOutOfMemory(errors.New(strings.Repeat("memory ", 3))))
}

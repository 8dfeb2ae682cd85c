//go:build onnx

package nca

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// requireONNXRuntime skips the test when the library is not installed.
func requireONNXRuntime(t *testing.T) string {
	t.Helper()
	lib, _, err := FindONNXRuntime()
	if err != nil {
		t.Skipf("ONNX Runtime not installed: %v", err)
	}
	return lib
}

func TestBackendONNXMatchesGo(t *testing.T) {
	lib := requireONNXRuntime(t)
	onnx, info, err := NewBackend("onnx")
	require.NoError(t, err)
	defer onnx.Finalize()
	assert.Equal(t, BackendONNX, info.Name)
	assert.Equal(t, lib, info.LibraryPath)
	assert.Contains(t, info.Config, "cpu_mem_arena,no_mem_pattern")

	goBackend, _, err := NewBackend("go")
	require.NoError(t, err)
	defer goBackend.Finalize()

	yONNX, sumONNX := runBackendTestGraph(t, onnx)
	yGo, sumGo := runBackendTestGraph(t, goBackend)
	require.Len(t, yONNX, len(yGo))
	for i := range yGo {
		assert.InDelta(t, yGo[i], yONNX[i], 1e-5, "element %d", i)
	}
	assert.InDelta(t, sumGo, sumONNX, 1e-4)
}

func TestBackendAutoPicksONNX(t *testing.T) {
	requireONNXRuntime(t)
	if hasNVIDIADevice() {
		t.Skip("this machine has an NVIDIA GPU: auto may pick xla:cuda")
	}
	backend, info, err := NewBackend("auto")
	require.NoError(t, err)
	defer backend.Finalize()
	assert.Equal(t, BackendONNX, info.Name)
}

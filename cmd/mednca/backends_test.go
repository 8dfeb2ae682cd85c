package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mednca/mednca/nca"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestBackendsCommandLists(t *testing.T) {
	status, out, errOut := runMednca(t, "backends")
	require.Equal(t, 0, status, errOut)
	for _, name := range []string{"xla:cuda", "onnx", "go"} {
		assert.Contains(t, out, "  "+name+" ")
	}
	assert.Contains(t, out, "go        available")
	assert.Contains(t, out, "auto picks: ")
}

func TestBackendsCommandPluginPath(t *testing.T) {
	// A fake plugin given by flag is printed back, so install scripts can
	// rely on the same search as the program.
	plugin := filepath.Join(t.TempDir(), "site-packages", "jax_plugins", "xla_cuda13",
		"xla_cuda_plugin.so")
	require.NoError(t, os.MkdirAll(filepath.Dir(plugin), 0o755))
	require.NoError(t, os.WriteFile(plugin, nil, 0o644))
	t.Setenv(nca.PJRTPluginEnv, "")
	status, out, _ := runMednca(t, "backends", "--plugin-path", "--plugin", plugin)
	require.Equal(t, 0, status)
	assert.Equal(t, plugin, strings.TrimSpace(out))

	// The listing shows the missing NVIDIA libraries of that plugin.
	status, out, _ = runMednca(t, "backends", "--plugin", plugin)
	require.Equal(t, 0, status)
	assert.Contains(t, out, "library: "+plugin)
	assert.Contains(t, out, "missing: libcudart.so.13 (pip nvidia-cuda-runtime)")

	status, _, errOut := runMednca(t, "backends", "--plugin-path", "--plugin", plugin+".missing")
	assert.Equal(t, 1, status)
	assert.Contains(t, errOut, "--plugin")
	status, _, errOut = runMednca(t, "backends", "extra")
	assert.Equal(t, 2, status)
	assert.Contains(t, errOut, `unexpected argument "extra"`)
}

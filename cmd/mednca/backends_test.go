package main

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mednca/mednca/nca"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// runBackendsCommand runs `mednca ARGS...` and returns its exit status and
// what it printed on standard output.
func runBackendsCommand(t *testing.T, args ...string) (int, string) {
	t.Helper()
	reader, writer, err := os.Pipe()
	require.NoError(t, err)
	saved := os.Stdout
	os.Stdout = writer
	status := runMain(args)
	os.Stdout = saved
	require.NoError(t, writer.Close())
	out, err := io.ReadAll(reader)
	require.NoError(t, err)
	return status, string(out)
}

func TestBackendsCommandLists(t *testing.T) {
	status, out := runBackendsCommand(t, "backends")
	require.Equal(t, 0, status, out)
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
	status, out := runBackendsCommand(t, "backends", "--plugin-path", "--plugin", plugin)
	require.Equal(t, 0, status)
	assert.Equal(t, plugin, strings.TrimSpace(out))

	// The listing shows the missing NVIDIA libraries of that plugin.
	status, out = runBackendsCommand(t, "backends", "--plugin", plugin)
	require.Equal(t, 0, status)
	assert.Contains(t, out, "library: "+plugin)
	assert.Contains(t, out, "missing: libcudart.so.13 (pip nvidia-cuda-runtime)")

	status, _ = runBackendsCommand(t, "backends", "--plugin-path", "--plugin", plugin+".missing")
	assert.Equal(t, 1, status)
	status, _ = runBackendsCommand(t, "backends", "extra")
	assert.Equal(t, 2, status)
}

package nca

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// isolateCUDASearch points every folder the plugin search reads at empty
// temporary folders, so only the fake layouts a test creates are found.
func isolateCUDASearch(t *testing.T) (home string) {
	t.Helper()
	home = t.TempDir()
	t.Setenv("HOME", home)
	for _, env := range []string{PJRTPluginEnv, "PYTHONPATH", "VIRTUAL_ENV", "CONDA_PREFIX",
		"LD_LIBRARY_PATH", "XLA_FLAGS"} {
		t.Setenv(env, "")
	}
	t.Setenv("PJRT_PLUGIN_LIBRARY_PATH", filepath.Join(home, "no-plugins"))
	if plugin, _, err := findCUDAPluginPath(""); err == nil {
		t.Skipf("a real PJRT CUDA plugin is installed (%s): fake layouts would not be found first", plugin)
	}
	return home
}

// touchEmptyFile creates an empty file under root, with its folders.
func touchEmptyFile(t *testing.T, root string, parts ...string) string {
	t.Helper()
	path := filepath.Join(append([]string{root}, parts...)...)
	require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
	require.NoError(t, os.WriteFile(path, nil, 0o644))
	return path
}

// fakeSitePackages lays out what `pip install jax-cuda13-pjrt
// 'jax-cuda13-plugin[with-cuda]'` installs: the plugin under jax_plugins,
// the CUDA 13 libraries under nvidia/, all as empty files; skip lists the
// libraries to leave out.
func fakeSitePackages(t *testing.T, site string, skip ...string) string {
	t.Helper()
	plugin := touchEmptyFile(t, site, "jax_plugins", "xla_cuda13", "xla_cuda_plugin.so")
	for _, lib := range cudaLibraries["cuda13"] {
		if !slices.Contains(skip, lib.file) {
			touchEmptyFile(t, site, "nvidia", lib.subdir, lib.file)
		}
	}
	if !slices.Contains(skip, "libdevice") {
		touchEmptyFile(t, site, "nvidia", "cu13", libdeviceFile)
	}
	return plugin
}

func TestCUDAPluginInVirtualEnv(t *testing.T) {
	isolateCUDASearch(t)
	venv := t.TempDir()
	t.Setenv("VIRTUAL_ENV", venv)
	site := filepath.Join(venv, "lib", "python3.12", "site-packages")
	want := fakeSitePackages(t, site)

	plugin, searched, err := FindCUDAPlugin("")
	require.NoError(t, err)
	assert.Equal(t, want, plugin.Path)
	assert.Equal(t, searched[0], want, "the virtual environment comes first")
	assert.Equal(t, "cuda13", plugin.Layout)
	assert.Equal(t, filepath.Join(site, "nvidia"), plugin.NVIDIADir)
	assert.Equal(t, filepath.Join(site, "nvidia", "cu13"), plugin.CUDADataDir)
	assert.Empty(t, plugin.Missing)
	assert.Equal(t, filepath.Join(site, "nvidia", "cudnn", "lib", "libcudnn.so.9"),
		plugin.Libraries["libcudnn.so.9"])
}

func TestCUDAPluginReportsMissingLibraries(t *testing.T) {
	isolateCUDASearch(t)
	site := filepath.Join(t.TempDir(), "site-packages")
	t.Setenv("PYTHONPATH", site)
	fakeSitePackages(t, site, "libcudnn.so.9", "libcublasLt.so.13", "libdevice")

	plugin, _, err := FindCUDAPlugin("")
	require.NoError(t, err, "missing libraries are reported, not an error")
	assert.Equal(t, []string{
		"libcublasLt.so.13 (pip nvidia-cublas)",
		"libcudnn.so.9 (pip nvidia-cudnn-cu13)",
		libdeviceFile + " (pip nvidia-cuda-nvcc or jax-cuda13-plugin)",
	}, plugin.Missing)
	assert.Empty(t, plugin.CUDADataDir)

	// A library on LD_LIBRARY_PATH is found too, as the dynamic loader would.
	system := t.TempDir()
	touchEmptyFile(t, system, "libcudnn.so.9")
	t.Setenv("LD_LIBRARY_PATH", system)
	plugin, _, err = FindCUDAPlugin("")
	require.NoError(t, err)
	assert.Equal(t, filepath.Join(system, "libcudnn.so.9"), plugin.Libraries["libcudnn.so.9"])
	assert.Len(t, plugin.Missing, 2)
}

func TestCUDAPluginLibdeviceFromJaxPlugin(t *testing.T) {
	isolateCUDASearch(t)
	site := filepath.Join(t.TempDir(), "site-packages")
	t.Setenv("PYTHONPATH", site)
	fakeSitePackages(t, site, "libdevice")
	touchEmptyFile(t, site, "jax_cuda13_plugin", libdeviceFile)

	plugin, _, err := FindCUDAPlugin("")
	require.NoError(t, err)
	assert.Equal(t, filepath.Join(site, "jax_cuda13_plugin"), plugin.CUDADataDir)
	assert.Empty(t, plugin.Missing)
}

func TestCUDAPluginExplicitPath(t *testing.T) {
	isolateCUDASearch(t)
	other := fakeSitePackages(t, filepath.Join(t.TempDir(), "site-packages"))

	// The flag wins over the environment variable.
	env := touchEmptyFile(t, t.TempDir(), "custom", "xla_cuda_plugin.so")
	t.Setenv(PJRTPluginEnv, env)
	plugin, _, err := FindCUDAPlugin(other)
	require.NoError(t, err)
	assert.Equal(t, other, plugin.Path)
	plugin, _, err = FindCUDAPlugin("")
	require.NoError(t, err)
	assert.Equal(t, env, plugin.Path)
	assert.Empty(t, plugin.NVIDIADir, "no nvidia folder next to a custom plugin")
	assert.NotEmpty(t, plugin.Missing)

	t.Setenv(PJRTPluginEnv, env+".missing")
	_, _, err = FindCUDAPlugin("")
	require.Error(t, err)
	assert.Contains(t, err.Error(), PJRTPluginEnv)
}

func TestCUDAPluginGoXLALayout(t *testing.T) {
	home := isolateCUDASearch(t)
	nvidia := filepath.Join(home, ".local", "lib", "go-xla", "nvidia")
	want := touchEmptyFile(t, nvidia, "pjrt_c_api_cuda_plugin.so")
	for _, lib := range cudaLibraries["cuda13"] {
		touchEmptyFile(t, nvidia, lib.subdir, lib.file)
	}
	touchEmptyFile(t, nvidia, "cu13", libdeviceFile)

	plugin, _, err := FindCUDAPlugin("")
	require.NoError(t, err)
	assert.Equal(t, want, plugin.Path)
	assert.Equal(t, nvidia, plugin.NVIDIADir)
	assert.Empty(t, plugin.Missing)
}

func TestCUDAPluginNotFound(t *testing.T) {
	isolateCUDASearch(t)
	_, searched, err := FindCUDAPlugin("")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "jax-cuda13-pjrt")
	assert.Contains(t, err.Error(), PJRTPluginEnv)
	assert.NotEmpty(t, searched)

	_, info, err := NewBackend("xla:cuda")
	require.Error(t, err)
	assert.False(t, info.Available)
	assert.Contains(t, err.Error(), PJRTPluginEnv)
}

func TestCUDABackendWithoutGPU(t *testing.T) {
	if hasNVIDIADevice() {
		t.Skip("this machine has an NVIDIA GPU")
	}
	isolateCUDASearch(t)
	plugin := fakeSitePackages(t, filepath.Join(t.TempDir(), "site-packages"))
	_, info, err := NewBackend("xla:cuda,plugin=" + plugin)
	require.Error(t, err)
	assert.Equal(t, plugin, info.LibraryPath)
	assert.Contains(t, err.Error(), "no NVIDIA GPU")
}

func TestCUDAPluginOption(t *testing.T) {
	options := "memory_fraction=0.5,plugin=/x/y.so,notf32"
	assert.Equal(t, "/x/y.so", pluginFromOptions(&options))
	assert.Equal(t, "memory_fraction=0.5,notf32", options)
	options = "preallocate=true"
	assert.Empty(t, pluginFromOptions(&options))
	assert.Equal(t, "preallocate=true", options)
}

func TestCUDADataDirFlag(t *testing.T) {
	t.Setenv("XLA_FLAGS", "--xla_dump_to=/tmp/x")
	t.Setenv("GOPJRT_CUDA_CHECKS", "")
	os.Unsetenv("GOPJRT_CUDA_CHECKS")
	setCUDADataDir("/opt/nvidia/cu13")
	assert.Equal(t, "--xla_dump_to=/tmp/x --xla_gpu_cuda_data_dir=/opt/nvidia/cu13", os.Getenv("XLA_FLAGS"))
	assert.Equal(t, "0", os.Getenv("GOPJRT_CUDA_CHECKS"))

	// A folder the user already chose is kept.
	setCUDADataDir("/elsewhere")
	assert.False(t, strings.Contains(os.Getenv("XLA_FLAGS"), "/elsewhere"))
}

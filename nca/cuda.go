package nca

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/gomlx/compute"
	"github.com/gomlx/go-xla/compute/xla"
	"github.com/pkg/errors"
	"k8s.io/klog/v2"
)

// PJRTPluginEnv names the environment variable with the full path of the
// PJRT CUDA plugin, e.g.
// .../site-packages/jax_plugins/xla_cuda13/xla_cuda_plugin.so.
const PJRTPluginEnv = "MEDNCA_PJRT_PLUGIN"

// cudaInstallHint tells users how to get the plugin and its libraries.
const cudaInstallHint = "set " + PJRTPluginEnv + " to the plugin's .so, or install it with " +
	"`pip install jax-cuda13-pjrt 'jax-cuda13-plugin[with-cuda]'` (the pip nvidia-* packages " +
	"hold the CUDA libraries it needs)"

// The PJRT plugin is always given by path (see FindCUDAPlugin), never
// downloaded.
func init() {
	xla.EnableAutoInstall(false)
}

// CUDAPlugin is a PJRT CUDA plugin found on disk, with the NVIDIA libraries
// it loads at run time.
type CUDAPlugin struct {
	// Path of the plugin shared library.
	Path string
	// Layout is "cuda13" or "cuda12": which CUDA major version the plugin
	// was built for, guessed from its folder.
	Layout string
	// NVIDIADir is the folder with the pip nvidia-* packages the plugin's
	// RUNPATH points at (site-packages/nvidia, or go-xla's nvidia/).
	NVIDIADir string
	// CUDADataDir holds nvvm/libdevice (and usually bin/ptxas); it is
	// given to XLA as --xla_gpu_cuda_data_dir.
	CUDADataDir string
	// Libraries maps each library the plugin needs to where it was found.
	Libraries map[string]string
	// Missing lists the needed libraries (and libdevice) not found, with
	// the pip package that provides each.
	Missing []string
}

// nvidiaLibrary is one shared library a CUDA plugin loads, where the pip
// packages put it (relative to the nvidia folder) and which package
// provides it.
type nvidiaLibrary struct {
	file, subdir, pipPackage string
}

// cudaLibraries lists, per plugin layout, the CUDA libraries XLA loads:
// runtime, compiler, BLAS, FFT, solver, sparse, cuDNN and NCCL.
// (cupti, for profiling, and nvshmem, for multi-GPU collectives, are
// optional and not checked.)
var cudaLibraries = map[string][]nvidiaLibrary{
	"cuda13": {
		{"libcudart.so.13", "cu13/lib", "nvidia-cuda-runtime"},
		{"libnvrtc.so.13", "cu13/lib", "nvidia-cuda-nvrtc"},
		{"libnvJitLink.so.13", "cu13/lib", "nvidia-nvjitlink"},
		{"libcublas.so.13", "cu13/lib", "nvidia-cublas"},
		{"libcublasLt.so.13", "cu13/lib", "nvidia-cublas"},
		{"libcufft.so.12", "cu13/lib", "nvidia-cufft"},
		{"libcusolver.so.12", "cu13/lib", "nvidia-cusolver"},
		{"libcusparse.so.12", "cu13/lib", "nvidia-cusparse"},
		{"libcudnn.so.9", "cudnn/lib", "nvidia-cudnn-cu13"},
		{"libnccl.so.2", "nccl/lib", "nvidia-nccl-cu13"},
	},
	"cuda12": {
		{"libcudart.so.12", "cuda_runtime/lib", "nvidia-cuda-runtime-cu12"},
		{"libnvrtc.so.12", "cuda_nvrtc/lib", "nvidia-cuda-nvrtc-cu12"},
		{"libnvJitLink.so.12", "nvjitlink/lib", "nvidia-nvjitlink-cu12"},
		{"libcublas.so.12", "cublas/lib", "nvidia-cublas-cu12"},
		{"libcublasLt.so.12", "cublas/lib", "nvidia-cublas-cu12"},
		{"libcufft.so.11", "cufft/lib", "nvidia-cufft-cu12"},
		{"libcusolver.so.11", "cusolver/lib", "nvidia-cusolver-cu12"},
		{"libcusparse.so.12", "cusparse/lib", "nvidia-cusparse-cu12"},
		{"libcudnn.so.9", "cudnn/lib", "nvidia-cudnn-cu12"},
		{"libnccl.so.2", "nccl/lib", "nvidia-nccl-cu12"},
	},
}

// libdeviceFile is the LLVM bitcode of CUDA's math functions, which XLA
// links into every kernel that uses exp, log or tanh.
const libdeviceFile = "nvvm/libdevice/libdevice.10.bc"

// FindCUDAPlugin returns the PJRT CUDA plugin to use and the plugin paths
// it tried. explicit (e.g. from a --plugin-path flag) wins, then
// $MEDNCA_PJRT_PLUGIN; then jax_plugins/xla_cuda13 (or xla_cuda12) in the
// Python site-packages folders (PYTHONPATH, $VIRTUAL_ENV, $CONDA_PREFIX,
// ~/.local, /usr/local, /usr, /opt/conda, and what python3 reports); then
// go-xla's folders ($PJRT_PLUGIN_LIBRARY_PATH, ~/.local/lib/go-xla/nvidia,
// /usr/local/lib/go-xla/nvidia, $LD_LIBRARY_PATH).
//
// The plugin's NVIDIA libraries are looked up where its RUNPATH points
// (the nvidia/ folder of the pip packages) and in the system library
// folders; those not found are listed in Missing, not returned as error.
func FindCUDAPlugin(explicit string) (CUDAPlugin, []string, error) {
	path, searched, err := findCUDAPluginPath(explicit)
	if err != nil {
		return CUDAPlugin{}, searched, err
	}
	return inspectCUDAPlugin(path), searched, nil
}

// findCUDAPluginPath returns the first plugin file found, in the order
// FindCUDAPlugin documents.
func findCUDAPluginPath(explicit string) (string, []string, error) {
	source := "path given"
	if explicit == "" {
		explicit, source = os.Getenv(PJRTPluginEnv), PJRTPluginEnv
	}
	if explicit != "" {
		if !isRegularFile(explicit) {
			return "", []string{explicit}, errors.Errorf("PJRT plugin (%s) %q is not a file: "+
				"give the path of xla_cuda_plugin.so (or pjrt_c_api_cuda_plugin.so)", source, explicit)
		}
		abs, err := filepath.Abs(explicit)
		return abs, []string{explicit}, err
	}

	candidates := cudaPluginCandidates(pythonSiteDirs(false))
	for _, candidate := range candidates {
		if isRegularFile(candidate) {
			return candidate, candidates, nil
		}
	}

	// Asking python3 is slower, so only when the usual folders had nothing.
	more := cudaPluginCandidates(pythonSiteDirs(true))
	for _, candidate := range more {
		if !slices.Contains(candidates, candidate) {
			candidates = append(candidates, candidate)
			if isRegularFile(candidate) {
				return candidate, candidates, nil
			}
		}
	}
	return "", candidates, errors.Errorf("no PJRT CUDA plugin found (looked in %d places): %s",
		len(candidates), cudaInstallHint)
}

// cudaPluginCandidates lists the plugin files to try, in order: those of
// the jax pip packages in siteDirs, then go-xla's installation folders.
func cudaPluginCandidates(siteDirs []string) []string {
	var candidates []string
	for _, dir := range siteDirs {
		for _, layout := range []string{"xla_cuda13", "xla_cuda12"} {
			candidates = append(candidates,
				filepath.Join(dir, "jax_plugins", layout, "xla_cuda_plugin.so"))
		}
	}
	for _, dir := range goXLAPluginDirs() {
		candidates = append(candidates, filepath.Join(dir, "pjrt_c_api_cuda_plugin.so"))
	}
	return uniquePaths(candidates)
}

// pythonSiteDirs lists existing Python package folders. With askPython it
// also runs python3 (if on PATH) to print its own site folders.
func pythonSiteDirs(askPython bool) []string {
	var patterns []string
	for _, entry := range filepath.SplitList(os.Getenv("PYTHONPATH")) {
		patterns = append(patterns, entry)
	}
	prefixes := []string{os.Getenv("VIRTUAL_ENV"), os.Getenv("CONDA_PREFIX")}
	if home, err := os.UserHomeDir(); err == nil {
		prefixes = append(prefixes, filepath.Join(home, ".local"))
	}
	prefixes = append(prefixes, "/usr/local", "/usr", "/opt/conda", "/opt/venv")
	for _, prefix := range prefixes {
		if prefix == "" {
			continue
		}
		for _, lib := range []string{"lib", "lib64"} {
			for _, kind := range []string{"site-packages", "dist-packages"} {
				patterns = append(patterns, filepath.Join(prefix, lib, "python3*", kind))
			}
		}
	}
	patterns = append(patterns, "/usr/lib/python3/dist-packages")
	if askPython {
		patterns = append(patterns, pythonReportedDirs()...)
	}

	var dirs []string
	for _, pattern := range patterns {
		matches, _ := filepath.Glob(pattern)
		for _, dir := range matches {
			if info, err := os.Stat(dir); err == nil && info.IsDir() {
				dirs = append(dirs, dir)
			}
		}
	}
	return uniquePaths(dirs)
}

// pythonReportedDirs asks python3 for its package folders; none when
// python3 is missing or slow.
func pythonReportedDirs() []string {
	python, err := exec.LookPath("python3")
	if err != nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	script := "import site, sys\n" +
		"print('\\n'.join(site.getsitepackages() + [site.getusersitepackages()] + sys.path))"
	out, err := exec.CommandContext(ctx, python, "-c", script).Output()
	if err != nil {
		klog.V(1).Infof("asking %s for its site folders: %v", python, err)
		return nil
	}
	var dirs []string
	for _, line := range strings.Split(string(out), "\n") {
		if line = strings.TrimSpace(line); filepath.IsAbs(line) {
			dirs = append(dirs, line)
		}
	}
	return dirs
}

// goXLAPluginDirs lists the folders go-xla searches for PJRT plugins.
func goXLAPluginDirs() []string {
	var dirs []string
	if env, found := os.LookupEnv("PJRT_PLUGIN_LIBRARY_PATH"); found {
		dirs = append(dirs, filepath.SplitList(env)...)
	}
	if home, err := os.UserHomeDir(); err == nil {
		base := filepath.Join(home, ".local", "lib", "go-xla")
		dirs = append(dirs, filepath.Join(base, "nvidia"), base)
	}
	dirs = append(dirs, "/usr/local/lib/go-xla/nvidia", "/usr/local/lib/go-xla")
	for _, dir := range filepath.SplitList(os.Getenv("LD_LIBRARY_PATH")) {
		if filepath.IsAbs(dir) {
			dirs = append(dirs, dir)
		}
	}
	return slices.DeleteFunc(dirs, func(dir string) bool { return dir == "" })
}

// inspectCUDAPlugin finds the NVIDIA libraries and libdevice for the
// plugin at path.
func inspectCUDAPlugin(path string) CUDAPlugin {
	plugin := CUDAPlugin{Path: path, Layout: "cuda13", Libraries: map[string]string{}}
	if strings.Contains(path, "cuda12") {
		plugin.Layout = "cuda12"
	}
	plugin.NVIDIADir = nvidiaDirFor(path)

	// The plugin's RUNPATH points into the nvidia folder; the dynamic
	// loader also searches LD_LIBRARY_PATH and the system folders.
	systemDirs := systemLibraryDirs()
	for _, lib := range cudaLibraries[plugin.Layout] {
		dirs := systemDirs
		if plugin.NVIDIADir != "" {
			dirs = append([]string{filepath.Join(plugin.NVIDIADir, lib.subdir)}, systemDirs...)
		}
		if found := findFileIn(lib.file, dirs); found != "" {
			plugin.Libraries[lib.file] = found
		} else {
			plugin.Missing = append(plugin.Missing, lib.file+" (pip "+lib.pipPackage+")")
		}
	}

	plugin.CUDADataDir = cudaDataDirFor(path, plugin.NVIDIADir, plugin.Layout)
	if plugin.CUDADataDir == "" {
		plugin.Missing = append(plugin.Missing, libdeviceFile+" (pip nvidia-cuda-nvcc or jax-"+
			plugin.Layout+"-plugin)")
	}
	return plugin
}

// nvidiaDirFor returns the nvidia folder of the pip packages that belongs
// to the plugin at path: site-packages/nvidia for
// site-packages/jax_plugins/xla_cudaNN/xla_cuda_plugin.so, or the plugin's
// own folder in go-xla's layout (.../go-xla/nvidia/pjrt_c_api_cuda_plugin.so).
func nvidiaDirFor(path string) string {
	dir := filepath.Dir(path)
	for _, candidate := range []string{
		filepath.Join(dir, "..", "..", "nvidia"),
		filepath.Join(dir, "..", "nvidia"),
		dir,
	} {
		candidate = filepath.Clean(candidate)
		if filepath.Base(candidate) != "nvidia" {
			continue
		}
		if info, err := os.Stat(candidate); err == nil && info.IsDir() {
			return candidate
		}
	}
	return ""
}

// cudaDataDirFor returns a folder holding nvvm/libdevice for the plugin: the
// CUDA toolkit pip package (nvidia/cu13 or nvidia/cuda_nvcc), the jax
// plugin package (which ships its own libdevice), or /usr/local/cuda.
func cudaDataDirFor(path, nvidiaDir, layout string) string {
	var candidates []string
	if nvidiaDir != "" {
		candidates = append(candidates, filepath.Join(nvidiaDir, "cu13"),
			filepath.Join(nvidiaDir, "cuda_nvcc"), nvidiaDir)
	}
	siteDir := filepath.Clean(filepath.Join(filepath.Dir(path), "..", ".."))
	candidates = append(candidates, filepath.Join(siteDir, "jax_"+layout+"_plugin"),
		"/usr/local/cuda")
	for _, dir := range candidates {
		if isRegularFile(filepath.Join(dir, libdeviceFile)) {
			return dir
		}
	}
	return ""
}

// systemLibraryDirs lists the folders the dynamic loader searches besides
// a library's RUNPATH.
func systemLibraryDirs() []string {
	dirs := filepath.SplitList(os.Getenv("LD_LIBRARY_PATH"))
	dirs = append(dirs, "/usr/local/nvidia/lib64", "/usr/local/cuda/lib64",
		"/usr/lib/x86_64-linux-gnu", "/usr/lib64", "/usr/lib", "/lib/x86_64-linux-gnu")
	return slices.DeleteFunc(dirs, func(dir string) bool { return !filepath.IsAbs(dir) })
}

// findFileIn returns the first dir/file that exists.
func findFileIn(file string, dirs []string) string {
	for _, dir := range dirs {
		if path := filepath.Join(dir, file); isRegularFile(path) {
			return path
		}
	}
	return ""
}

// hasNVIDIADevice tells whether the machine exposes an NVIDIA GPU.
func hasNVIDIADevice() bool {
	matches, _ := filepath.Glob("/dev/nvidia[0-9]*")
	return len(matches) > 0
}

// pluginFromOptions removes a "plugin=PATH" entry from the comma-separated
// options and returns PATH ("" if absent).
func pluginFromOptions(options *string) string {
	var path string
	var kept []string
	for _, option := range strings.Split(*options, ",") {
		if value, found := strings.CutPrefix(option, "plugin="); found {
			path = value
		} else if option != "" {
			kept = append(kept, option)
		}
	}
	*options = strings.Join(kept, ",")
	return path
}

// cudaBackendInfo describes the xla:cuda backend with the plugin found for
// explicitPlugin (see FindCUDAPlugin).
func cudaBackendInfo(explicitPlugin string) BackendInfo {
	info := BackendInfo{
		Name:        BackendXLACUDA,
		Description: "XLA on an NVIDIA GPU (PJRT CUDA plugin)",
		Built:       true,
	}
	plugin, _, err := FindCUDAPlugin(explicitPlugin)
	if err != nil {
		info.Problem = err.Error()
		return info
	}
	info.LibraryPath = plugin.Path
	info.Missing = plugin.Missing
	info.Config = plugin.Path
	if !hasNVIDIADevice() {
		info.Problem = "no NVIDIA GPU on this machine (no /dev/nvidia0): use go or onnx"
		return info
	}
	info.Available = true
	return info
}

// newCUDABackend creates the XLA backend on the plugin of info. XLA learns
// where libdevice lives through XLA_FLAGS; GPU memory is allocated as
// needed (preallocate=false) unless the options ask otherwise.
func newCUDABackend(info BackendInfo) (compute.Backend, error) {
	pluginPath, options, _ := strings.Cut(info.Config, ",")
	plugin := inspectCUDAPlugin(pluginPath)
	setCUDADataDir(plugin.CUDADataDir)

	if !strings.Contains(options, "preallocate") {
		if strings.Contains(options, "memory_fraction") {
			options = joinOptions("preallocate=true", options)
		} else {
			options = joinOptions("preallocate=false", options)
		}
	}
	backend, err := xla.NewWithOptions(joinOptions(pluginPath, options), nil)
	if err != nil {
		if len(plugin.Missing) > 0 {
			err = errors.WithMessagef(err, "PJRT plugin %s lacks %s: %s", pluginPath,
				strings.Join(plugin.Missing, ", "), cudaInstallHint)
		}
		return nil, err
	}
	return backend, nil
}

// setCUDADataDir tells XLA where nvvm/libdevice is, unless XLA_FLAGS
// already does. go-xla only guesses it for its own folder layout, so its
// warning about the nvidia folder is silenced when this succeeds.
func setCUDADataDir(dir string) {
	const flag = "--xla_gpu_cuda_data_dir"
	flags := os.Getenv("XLA_FLAGS")
	if dir == "" || strings.Contains(flags, flag) {
		return
	}
	_ = os.Setenv("XLA_FLAGS", strings.TrimSpace(flags+" "+flag+"="+dir))
	if _, found := os.LookupEnv("GOPJRT_CUDA_CHECKS"); !found {
		_ = os.Setenv("GOPJRT_CUDA_CHECKS", "0")
	}
	klog.V(1).Infof("XLA_FLAGS=%s", os.Getenv("XLA_FLAGS"))
}

// uniquePaths returns list without repeated entries, order kept.
func uniquePaths(list []string) []string {
	seen := make(map[string]bool, len(list))
	out := list[:0:0]
	for _, s := range list {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

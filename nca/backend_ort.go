package nca

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/pkg/errors"
)

// ONNXRuntimeEnv names the environment variable with the full path of the
// ONNX Runtime shared library; it is also what compute-onnx reads.
const ONNXRuntimeEnv = "ONNXRUNTIME_SHARED_LIBRARY_PATH"

// onnxLibraryName is the library file inside the npm package
// onnxruntime-node, which scripts/install-onnxruntime.sh installs.
const onnxLibraryName = "libonnxruntime.so.1"

// onnxInstallHint tells users how to get the library.
const onnxInstallHint = "run scripts/install-onnxruntime.sh (npm install --ignore-scripts " +
	"onnxruntime-node@1.30.0) or set " + ONNXRuntimeEnv + " to a libonnxruntime.so"

// FindONNXRuntime returns the path of the ONNX Runtime shared library and the
// places it looked in. The order: $ONNXRUNTIME_SHARED_LIBRARY_PATH; then
// node_modules/onnxruntime-node in the current directory, the executable's
// directory or any of their parents (where scripts/install-onnxruntime.sh
// puts it by default: the repository root); then the user cache
// (~/.cache/mednca/onnxruntime, scripts/install-onnxruntime.sh ~/.cache/mednca/onnxruntime).
func FindONNXRuntime() (path string, searched []string, err error) {
	if env := os.Getenv(ONNXRuntimeEnv); env != "" {
		if isRegularFile(env) {
			return env, []string{env}, nil
		}
		return "", []string{env}, errors.Errorf("%s=%q is not a file: point it at "+
			"libonnxruntime.so.1, or unset it and %s", ONNXRuntimeEnv, env, onnxInstallHint)
	}

	for _, dir := range onnxSearchDirs() {
		candidate := filepath.Join(dir, onnxNodeLibrarySubpath())
		searched = append(searched, candidate)
		if isRegularFile(candidate) {
			return candidate, searched, nil
		}
	}
	return "", searched, errors.Errorf("ONNX Runtime library %s not found (looked in %d places, "+
		"e.g. %s): %s", onnxLibraryName, len(searched), firstOrNone(searched, "none"), onnxInstallHint)
}

// onnxNodeLibrarySubpath is where npm's onnxruntime-node keeps the library,
// relative to the folder holding node_modules.
func onnxNodeLibrarySubpath() string {
	arch := runtime.GOARCH
	if arch == "amd64" {
		arch = "x64"
	}
	return filepath.Join("node_modules", "onnxruntime-node", "bin", "napi-v6",
		runtime.GOOS, arch, onnxLibraryName)
}

// onnxSearchDirs lists the folders that may hold node_modules: the current
// directory and the executable's directory with all their parents, then the
// user cache.
func onnxSearchDirs() []string {
	var dirs []string
	seen := map[string]bool{}
	add := func(dir string) {
		if dir != "" && !seen[dir] {
			seen[dir] = true
			dirs = append(dirs, dir)
		}
	}
	if wd, err := os.Getwd(); err == nil {
		for _, dir := range dirAndParents(wd) {
			add(dir)
		}
	}
	if exe, err := os.Executable(); err == nil {
		for _, dir := range dirAndParents(filepath.Dir(exe)) {
			add(dir)
		}
	}
	if cache, err := os.UserCacheDir(); err == nil {
		add(filepath.Join(cache, "mednca", "onnxruntime"))
	}
	return dirs
}

// dirAndParents returns dir and all its parents up to the root.
func dirAndParents(dir string) []string {
	dir = filepath.Clean(dir)
	var dirs []string
	for {
		dirs = append(dirs, dir)
		parent := filepath.Dir(dir)
		if parent == dir {
			return dirs
		}
		dir = parent
	}
}

// isRegularFile tells whether path exists and is a file (symbolic links
// followed).
func isRegularFile(path string) bool {
	info, err := os.Stat(path)
	return err == nil && info.Mode().IsRegular()
}

// firstOrNone returns the first element of list, or fallback when it is empty.
func firstOrNone(list []string, fallback string) string {
	if len(list) == 0 {
		return fallback
	}
	return strings.TrimSpace(list[0])
}

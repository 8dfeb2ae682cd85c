package nca

import (
	"fmt"
	"os"
	"strings"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/gobackend"
	"github.com/pkg/errors"
	"k8s.io/klog/v2"
)

// Backend names accepted by NewBackend, alone or followed by ",OPTIONS"
// (options go to the backend unchanged, e.g. "go,ops_sequential",
// "onnx,intra_op_num_threads=1", "xla:cuda,memory_fraction=0.5").
const (
	// BackendAuto picks the fastest backend that this build and machine offer.
	BackendAuto = "auto"
	// BackendGo is the pure Go backend: always there, slowest.
	BackendGo = "go"
	// BackendONNX is ONNX Runtime on the CPU; only in builds with -tags onnx.
	BackendONNX = "onnx"
	// BackendXLACUDA is XLA on an NVIDIA GPU through the PJRT CUDA plugin.
	BackendXLACUDA = "xla:cuda"
)

// BackendEnv is the environment variable read by NewBackend when the spec
// is empty, e.g. MEDNCA_BACKEND=onnx.
const BackendEnv = "MEDNCA_BACKEND"

// BackendInfo describes one backend: what it is, where its native library
// lives and, when it cannot be used, why and how to fix that.
type BackendInfo struct {
	// Name is the backend's name as NewBackend accepts it ("go", "onnx",
	// "xla:cuda").
	Name string
	// Description is one line for "using backend ..." messages.
	Description string
	// Config is the configuration string given to the compute backend's
	// constructor.
	Config string
	// LibraryPath is the native library the backend loads (ONNX Runtime or
	// the PJRT plugin); empty for the Go backend.
	LibraryPath string
	// Built tells whether this binary includes the backend at all.
	Built bool
	// Available tells whether the backend can be created here.
	Available bool
	// Problem says why the backend is not available and how to install it;
	// empty when it is available.
	Problem string
	// Missing lists native libraries the backend needs that were not found
	// (for xla:cuda, the NVIDIA libraries next to the plugin).
	Missing []string
}

// String returns the name, the description and the library, for logs.
func (info BackendInfo) String() string {
	s := info.Name + " (" + info.Description + ")"
	if info.LibraryPath != "" {
		s += " from " + info.LibraryPath
	}
	return s
}

// onnxSupport is filled in by the onnx-tagged file of this package: it finds
// the ONNX Runtime library and creates the backend. Nil without the tag.
var onnxSupport *onnxBackendSupport

type onnxBackendSupport struct {
	newBackend func(config string) (compute.Backend, error)
}

// NewBackend returns the compute backend for spec and its description.
//
// spec is "auto", "go", "onnx" or "xla:cuda", optionally followed by
// ",OPTIONS" passed to the backend. An empty spec reads $MEDNCA_BACKEND and
// falls back to "auto". "auto" picks xla:cuda when an NVIDIA GPU and a
// complete PJRT CUDA plugin are present, else onnx when this build has it
// (-tags onnx) and the ONNX Runtime library is found, else go.
//
// Nothing is ever downloaded: a backend whose native library is missing
// returns an error that says how to install it.
func NewBackend(spec string) (compute.Backend, BackendInfo, error) {
	if spec == "" {
		spec = os.Getenv(BackendEnv)
	}
	name, options, err := parseBackendSpec(spec)
	if err != nil {
		return nil, BackendInfo{}, err
	}

	// Keep the native backends from ever trying to download libraries.
	if _, found := os.LookupEnv("GOMLX_NO_AUTO_INSTALL"); !found {
		_ = os.Setenv("GOMLX_NO_AUTO_INSTALL", "1")
	}

	var info BackendInfo
	switch name {
	case BackendAuto:
		info = autoBackend()
	case BackendGo:
		info = goBackendInfo()
	case BackendONNX:
		info = onnxBackendInfo()
	case BackendXLACUDA:
		info = cudaBackendInfo(pluginFromOptions(&options))
	}
	if !info.Available {
		return nil, info, errors.Errorf("backend %q is not available: %s", info.Name, info.Problem)
	}
	info.Config = joinOptions(info.Config, options)

	backend, err := createBackend(info)
	if err != nil {
		return nil, info, errors.WithMessagef(err, "creating backend %q (config %q)", info.Name, info.Config)
	}
	klog.V(1).Infof("backend %s: %s", info, backend.Description())
	return backend, info, nil
}

// AvailableBackends describes every backend NewBackend knows, in the order
// "auto" prefers them: xla:cuda, onnx, go. Backends this build lacks are
// included with Built false.
func AvailableBackends() []BackendInfo {
	return []BackendInfo{cudaBackendInfo(""), onnxBackendInfo(), goBackendInfo()}
}

// parseBackendSpec splits "name[,options]" (or "go:options", GoMLX's
// style) and checks the name.
func parseBackendSpec(spec string) (name, options string, err error) {
	spec = strings.TrimSpace(spec)
	if spec == "" {
		return BackendAuto, "", nil
	}
	name, options, _ = strings.Cut(spec, ",")
	lower := strings.ToLower(name)
	switch {
	case lower == "xla:cuda" || lower == "cuda" || lower == "xla":
		return BackendXLACUDA, options, nil
	case lower == "onnx:cpu":
		return BackendONNX, options, nil
	}
	if before, after, found := strings.Cut(lower, ":"); found {
		lower = before
		options = joinOptions(after, options)
	}
	switch lower {
	case BackendAuto, BackendGo, BackendONNX:
		return lower, options, nil
	}
	return "", "", errors.Errorf("unknown backend %q: use one of auto, go, onnx, xla:cuda "+
		"(optionally followed by ,OPTIONS)", spec)
}

// joinOptions joins two comma-separated option lists, skipping empty ones.
func joinOptions(a, b string) string {
	switch {
	case a == "":
		return b
	case b == "":
		return a
	}
	return a + "," + b
}

// autoBackend returns the first available backend in the order of
// AvailableBackends, skipping xla:cuda on machines without an NVIDIA GPU.
func autoBackend() BackendInfo {
	if hasNVIDIADevice() {
		if info := cudaBackendInfo(""); info.Available && len(info.Missing) == 0 {
			return info
		}
	}
	if info := onnxBackendInfo(); info.Available {
		return info
	}
	return goBackendInfo()
}

// goBackendInfo describes the pure Go backend. It runs each op on all
// cores, one op after another ("ops_sequential"): on NCA steps this beat
// its default of also running independent ops side by side, by 10-20% on
// two cores (BenchmarkBackendSteps). "go,ops_parallel" restores that.
func goBackendInfo() BackendInfo {
	return BackendInfo{
		Name:        BackendGo,
		Description: "pure Go, CPU",
		Config:      "ops_sequential",
		Built:       true,
		Available:   true,
	}
}

// onnxBackendInfo describes the ONNX Runtime CPU backend. It allocates
// from its arena, which reuses freed blocks instead of asking the system
// for fresh pages every time (a training iteration 2.35 -> 1.95 s), but
// without memory patterns: with them the arena reserves one block for
// all of a graph's intermediate tensors (peak 1.9 -> 3.6 GiB in training
// at the defaults; past 20 GiB for automatic differentiation of 64 steps
// on 128x128). bench/README.md has the measurements.
func onnxBackendInfo() BackendInfo {
	info := BackendInfo{
		Name:        BackendONNX,
		Description: "ONNX Runtime, CPU",
		Built:       onnxSupport != nil,
	}
	lib, searched, err := FindONNXRuntime()
	info.LibraryPath = lib
	switch {
	case !info.Built:
		info.Problem = "this binary was built without it: build with -tags onnx " +
			"(and install the library with scripts/install-onnxruntime.sh)"
	case err != nil:
		info.Problem = err.Error()
		info.Missing = []string{onnxLibraryName}
		klog.V(1).Infof("ONNX Runtime searched in %q", searched)
	default:
		info.Available = true
		info.Config = "cpu,cpu_mem_arena,no_mem_pattern," + lib
	}
	return info
}

// createBackend calls the constructor of the backend info describes.
func createBackend(info BackendInfo) (compute.Backend, error) {
	switch info.Name {
	case BackendGo:
		return gobackend.New(info.Config)
	case BackendONNX:
		return onnxSupport.newBackend(info.Config)
	case BackendXLACUDA:
		return newCUDABackend(info)
	}
	return nil, errors.Errorf("no constructor for backend %q", info.Name)
}

// IsOutOfMemory tells whether err reports memory exhaustion by any backend:
// XLA/PJRT (RESOURCE_EXHAUSTED, CUDA out of memory), ONNX Runtime (failed
// to allocate, bad_alloc) or the operating system (cannot allocate memory).
// Callers use it to suggest a smaller batch, image or patch size.
func IsOutOfMemory(err error) bool {
	if err == nil {
		return false
	}
	msg := strings.ToLower(fmt.Sprintf("%+v", err))
	for _, pattern := range []string{
		"resource_exhausted", "resource exhausted", "out of memory", "out_of_memory",
		"failed to allocate", "bad_alloc", "bad allocation", "cannot allocate memory",
		"memory allocation failed", "oom when allocating", "allocation failed",
	} {
		if strings.Contains(msg, pattern) {
			return true
		}
	}
	return false
}

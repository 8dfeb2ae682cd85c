//go:build onnx

package nca

import (
	onnxbackend "github.com/gomlx/compute-onnx"
)

// With the onnx tag, the ONNX Runtime backend is compiled in; the library
// itself is loaded when the backend is created, from the path
// FindONNXRuntime returns, never downloaded.
func init() {
	onnxbackend.EnableAutoInstall(false)
	onnxSupport = &onnxBackendSupport{newBackend: onnxbackend.New}
}

package nca

import (
	"testing"

	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/stretchr/testify/require"
)

// BenchmarkBackendMatMul measures, on every available backend, the matrix
// product of the update rule's first layer for one level-2 training step:
// [8*64*64, 48] x [48, 128] in float32. It reports GFLOP/s, the ceiling
// against which the model's step times can be read.
//
//	go test -tags onnx -run '^$' -bench BackendMatMul ./nca/
func BenchmarkBackendMatMul(b *testing.B) {
	const rows, inner, cols = 8 * 64 * 64, 48, 128
	lhs := make([]float32, rows*inner)
	for i := range lhs {
		lhs[i] = float32(i%13) / 13
	}
	rhs := make([]float32, inner*cols)
	for i := range rhs {
		rhs[i] = float32(i%7) / 7
	}
	for _, info := range AvailableBackends() {
		if !info.Available {
			continue
		}
		b.Run(info.Name, func(b *testing.B) {
			backend, _, err := NewBackend(info.Name)
			require.NoError(b, err)
			defer backend.Finalize()
			exec, err := graph.NewExec(backend, graph.MatMul)
			require.NoError(b, err)
			defer exec.Finalize()
			lhsT := tensors.FromFlatDataAndDimensions(lhs, rows, inner)
			rhsT := tensors.FromFlatDataAndDimensions(rhs, inner, cols)

			// The first call compiles; the loop times execution and the
			// copy of the result back to the host.
			_, err = exec.Call(lhsT, rhsT)
			require.NoError(b, err)
			b.ResetTimer()
			for b.Loop() {
				out, err := exec.Call(lhsT, rhsT)
				require.NoError(b, err)
				_ = tensors.MustCopyFlatData[float32](out[0])
				out[0].MustFinalizeAll()
			}
			seconds := b.Elapsed().Seconds() / float64(b.N)
			b.ReportMetric(2*rows*inner*cols/seconds/1e9, "GFLOP/s")
		})
	}
}

// backendStepGraph runs steps NCA-like updates on a [8,64,64,16] state
// (two 3x3 convolutions, concatenation, 48->128->16 update rule) and
// returns the mean of the final state and, when withGradient, the gradient
// of that mean with respect to the four weights: the shape of the model's
// forward and training work, without its details.
func backendStepGraph(steps int, withGradient bool) func(state, wa, wb, w1, w2 *graph.Node) []*graph.Node {
	return func(state, wa, wb, w1, w2 *graph.Node) []*graph.Node {
		dims := state.Shape().Dimensions
		for range steps {
			convA := graph.Convolve(state, wa).PadSame().Done()
			convB := graph.Convolve(state, wb).PadSame().Done()
			perception := graph.Concatenate([]*graph.Node{state, convA, convB}, -1)
			flat := graph.Reshape(perception, -1, 48)
			hidden := graph.MaxScalar(graph.MatMul(flat, w1), 0)
			update := graph.Reshape(graph.MatMul(hidden, w2), dims...)
			state = graph.Add(state, update)
		}
		mean := graph.ReduceAllMean(state)
		if !withGradient {
			return []*graph.Node{mean}
		}
		return append([]*graph.Node{mean}, graph.Gradient(mean, wa, wb, w1, w2)...)
	}
}

// BenchmarkBackendSteps times 8 NCA-like steps on 8x64x64 cells, forward
// alone and with gradients, on each available CPU backend and on the Go
// backend's sequential schedule:
//
//	go test -tags onnx -run '^$' -bench BackendSteps -benchtime 3x ./nca/
func BenchmarkBackendSteps(b *testing.B) {
	fill := func(n int, scale float32) []float32 {
		data := make([]float32, n)
		for i := range data {
			data[i] = (float32(i%11) - 5) * scale
		}
		return data
	}
	// Tensors stay attached to the backend that used them: new ones for
	// each backend.
	newInputs := func() []any {
		return []any{
			tensors.FromFlatDataAndDimensions(fill(8*64*64*16, 0.1), 8, 64, 64, 16),
			tensors.FromFlatDataAndDimensions(fill(3*3*16*16, 0.01), 3, 3, 16, 16),
			tensors.FromFlatDataAndDimensions(fill(3*3*16*16, 0.01), 3, 3, 16, 16),
			tensors.FromFlatDataAndDimensions(fill(48*128, 0.01), 48, 128),
			tensors.FromFlatDataAndDimensions(fill(128*16, 0.001), 128, 16),
		}
	}
	specs := []string{"go", "go,ops_sequential"}
	if onnxBackendInfo().Available {
		specs = append(specs, "onnx")
	}
	for _, spec := range specs {
		for _, withGradient := range []bool{false, true} {
			name := spec + "/forward"
			if withGradient {
				name = spec + "/gradient"
			}
			b.Run(name, func(b *testing.B) {
				backend, _, err := NewBackend(spec)
				require.NoError(b, err)
				defer backend.Finalize()
				exec, err := graph.NewExec(backend, backendStepGraph(8, withGradient))
				require.NoError(b, err)
				defer exec.Finalize()
				inputs := newInputs()
				_, err = exec.Call(inputs...)
				require.NoError(b, err)
				b.ResetTimer()
				for b.Loop() {
					outputs, err := exec.Call(inputs...)
					require.NoError(b, err)
					for _, output := range outputs {
						output.MustFinalizeAll()
					}
				}
			})
		}
	}
}

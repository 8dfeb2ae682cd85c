//go:build !onnx

package nca

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestBackendONNXNeedsTag(t *testing.T) {
	_, info, err := NewBackend("onnx")
	require.Error(t, err)
	assert.False(t, info.Built)
	assert.Contains(t, err.Error(), "-tags onnx")
}

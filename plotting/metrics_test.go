package plotting

import (
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// writeFile writes content to name in a fresh temporary directory.
func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(path, []byte(content), 0o644))
	return path
}

const sampleMetrics = `step,epoch,train_loss,val_loss,val_dice,val_iou,lr,elapsed_s
10,0,0.9,,,,0.001,1.5
20,0.5,0.7,0.8,0.41,0.26,0.001,3.0
30,1,0.5,,,,0.0009,4.5
`

func TestReadMetricsCSV(t *testing.T) {
	rows, err := ReadMetricsCSV(writeFile(t, "metrics.csv", sampleMetrics))
	require.NoError(t, err)
	require.Len(t, rows, 3)

	assert.Equal(t, 20, rows[1].Step)
	assert.Equal(t, 0.5, rows[1].Epoch)
	assert.Equal(t, 0.7, rows[1].TrainLoss)
	assert.Equal(t, 0.8, rows[1].ValLoss)
	assert.Equal(t, 0.41, rows[1].ValDice)
	assert.Equal(t, 0.26, rows[1].ValIoU)
	assert.Equal(t, 0.001, rows[1].LR)
	assert.Equal(t, 3.0, rows[1].ElapsedS)
	assert.True(t, rows[1].HasValidation())

	// Empty validation cells read as NaN.
	assert.True(t, math.IsNaN(rows[0].ValLoss))
	assert.True(t, math.IsNaN(rows[2].ValDice))
	assert.False(t, rows[2].HasValidation())
	assert.Equal(t, 0.0009, rows[2].LR)
}

func TestReadMetricsCSVColumnOrderAndMissingColumns(t *testing.T) {
	rows, err := ReadMetricsCSV(writeFile(t, "m.csv", "train_loss,step,extra\n0.3,5,zz\n"))
	require.NoError(t, err)
	require.Len(t, rows, 1)
	assert.Equal(t, 5, rows[0].Step)
	assert.Equal(t, 0.3, rows[0].TrainLoss)
	assert.True(t, math.IsNaN(rows[0].ValIoU), "absent column reads as NaN")
}

func TestReadMetricsCSVHeaderOnly(t *testing.T) {
	rows, err := ReadMetricsCSV(writeFile(t, "m.csv", "step,train_loss\n"))
	require.NoError(t, err)
	assert.Empty(t, rows)
}

func TestReadMetricsCSVErrors(t *testing.T) {
	// Each case: file content and the pieces the error must contain.
	cases := []struct {
		name, content string
		want          []string
	}{
		{"bad number", sampleMetrics + "40,1,abc,,,,0.001,6\n", []string{"line 5", `"train_loss"`, `"abc"`}},
		{"bad step", "step,train_loss\n1,0.5\nx,0.4\n", []string{"line 3", `"step"`, `"x"`}},
		{"short line", "step,train_loss,val_dice\n1,0.5\n", []string{"line 2", "2 fields, expected 3"}},
		{"no step", "epoch,train_loss\n1,0.5\n", []string{"line 1", `no "step" column`}},
		{"empty", "", []string{"empty file"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := writeFile(t, "metrics.csv", c.content)
			_, err := ReadMetricsCSV(path)
			require.Error(t, err)
			assert.Contains(t, err.Error(), path)
			for _, w := range c.want {
				assert.Contains(t, err.Error(), w)
			}
		})
	}
}

func TestReadMetricsCSVMissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nope", "metrics.csv")
	_, err := ReadMetricsCSV(path)
	require.Error(t, err)
	assert.Contains(t, err.Error(), path)
	assert.ErrorIs(t, err, os.ErrNotExist)
}

package plotting

import (
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// countColored counts pixels in r that are clearly coloured (not gray).
func countColored(img image.Image, r image.Rectangle) int {
	n := 0
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			c := color.RGBAModel.Convert(img.At(x, y)).(color.RGBA)
			hi := max(c.R, c.G, c.B)
			lo := min(c.R, c.G, c.B)
			if int(hi)-int(lo) > 60 {
				n++
			}
		}
	}
	return n
}

// nearColor counts pixels in r within tol (per channel) of c.
func nearColor(img image.Image, r image.Rectangle, c color.RGBA, tol int) int {
	n := 0
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			p := color.RGBAModel.Convert(img.At(x, y)).(color.RGBA)
			if absInt(int(p.R)-int(c.R)) <= tol && absInt(int(p.G)-int(c.G)) <= tol &&
				absInt(int(p.B)-int(c.B)) <= tol {
				n++
			}
		}
	}
	return n
}

func absInt(v int) int { return max(v, -v) }

// manyRows simulates a run: loss decaying over three decades, validation
// every 10th step.
func manyRows(n int) []MetricsRow {
	rows := make([]MetricsRow, n)
	for i := range rows {
		r := MetricsRow{Step: i * 5, TrainLoss: 2 * math.Exp(-float64(i)/40), ValLoss: math.NaN(),
			ValDice: math.NaN(), ValIoU: math.NaN(), LR: 1e-3}
		if i%10 == 0 {
			r.ValLoss = r.TrainLoss * 1.2
			r.ValDice = 1 - math.Exp(-float64(i)/80)
			r.ValIoU = r.ValDice / (2 - r.ValDice)
		}
		rows[i] = r
	}
	return rows
}

func TestCurvesManyRows(t *testing.T) {
	img, err := Curves(manyRows(300))
	require.NoError(t, err)
	opts := DefaultCurveOptions()
	require.Equal(t, image.Rect(0, 0, opts.Width, opts.Height), img.Bounds())

	// The upper half holds the loss panel: train (blue) and validation (orange)
	// lines; the lower half the Dice (green) and IoU (purple) lines.
	top := image.Rect(0, 0, opts.Width, opts.Height/2)
	bottom := image.Rect(0, opts.Height/2, opts.Width, opts.Height)
	assert.Greater(t, nearColor(img, top, seriesColors[0], 30), 200, "train loss line")
	assert.Greater(t, nearColor(img, top, seriesColors[1], 30), 50, "validation loss line")
	assert.Greater(t, nearColor(img, bottom, seriesColors[2], 30), 100, "Dice line")
	assert.Greater(t, nearColor(img, bottom, seriesColors[3], 30), 100, "IoU line")
	assert.Less(t, nearColor(img, top, seriesColors[2], 30), 20, "no Dice in the loss panel")
}

func TestCurvesOneRowWithoutValidation(t *testing.T) {
	rows := []MetricsRow{{Step: 1, TrainLoss: 0.7, ValLoss: math.NaN(), ValDice: math.NaN(),
		ValIoU: math.NaN()}}
	img, err := CurvesWith(rows, CurveOptions{Width: 400, Height: 300, LogLoss: true})
	require.NoError(t, err)
	assert.Equal(t, image.Rect(0, 0, 400, 300), img.Bounds())

	// The single training point is still drawn as a dot.
	assert.Greater(t, nearColor(img, img.Bounds(), seriesColors[0], 30), 3)
	assert.Zero(t, nearColor(img, img.Bounds(), seriesColors[2], 30), "no Dice drawn without validation")
	if out := os.Getenv("MEDNCA_PLOT_OUT"); out != "" {
		require.NoError(t, SavePNG(filepath.Join(out, "curves_one_row.png"), img))
	}
}

func TestCurvesErrors(t *testing.T) {
	_, err := Curves(nil)
	assert.ErrorContains(t, err, "no metrics rows")
	_, err = CurvesWith(manyRows(3), CurveOptions{Width: 0, Height: 10})
	assert.ErrorContains(t, err, "0x10")
}

func TestSaveCurvesFromCSV(t *testing.T) {
	// Write a metrics.csv the way training does, read it back, plot it.
	var b strings.Builder
	b.WriteString("step,epoch,train_loss,val_loss,val_dice,val_iou,lr,elapsed_s\n")
	for _, r := range manyRows(50) {
		val := func(v float64) string {
			if math.IsNaN(v) {
				return ""
			}
			return fmt.Sprint(v)
		}
		fmt.Fprintf(&b, "%d,0,%g,%s,%s,%s,%g,1\n", r.Step, r.TrainLoss, val(r.ValLoss), val(r.ValDice),
			val(r.ValIoU), r.LR)
	}
	rows, err := ReadMetricsCSV(writeFile(t, "metrics.csv", b.String()))
	require.NoError(t, err)
	require.Len(t, rows, 50)

	path := filepath.Join(t.TempDir(), "run", "curves.png")
	require.NoError(t, SaveCurves(rows, path))
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	img, err := png.Decode(f)
	require.NoError(t, err)
	assert.Equal(t, 900, img.Bounds().Dx())
	assert.Greater(t, countColored(img, img.Bounds()), 500)
	if out := os.Getenv("MEDNCA_PLOT_OUT"); out != "" {
		require.NoError(t, SaveCurves(manyRows(300), filepath.Join(out, "curves.png")))
	}
}

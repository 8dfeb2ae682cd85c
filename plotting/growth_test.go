package plotting

import (
	"bytes"
	"image"
	"image/color"
	"image/gif"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// growthFrames simulates a run: 3 level-1 steps at 16x16 and 4 level-2 steps
// at 32x32, a lesion disk that grows and one signed hidden channel.
func growthFrames() []GrowthFrame {
	var frames []GrowthFrame
	add := func(level, step, size int) {
		_, lesion := disk(size, size/2, size/2, (step+1)*size/10)
		hidden := make([]float32, size*size)
		for i := range hidden {
			hidden[i] = float32(i%size-size/2) * float32(step+1)
		}
		frames = append(frames, GrowthFrame{Level: level, Step: step, Size: size,
			Channels: [][]float32{lesion, hidden}})
	}
	for s := range 3 {
		add(1, s, 16)
	}
	for s := range 4 {
		add(2, s, 32)
	}
	return frames
}

func TestGrowthStrip(t *testing.T) {
	const scale = 2
	frames := growthFrames()
	img := GrowthStrip(frames, scale)
	tile := 32 * scale
	nameW := 7*len("lesion") + gap
	assert.Equal(t, gap+nameW+7*(tile+gap), img.Bounds().Dx())
	assert.Equal(t, labelHeight+2*(tile+gap)+gap, img.Bounds().Dy())

	// The lesion centre of the first level-1 frame (enlarged 4 times) is at
	// the top of the colour map, its corner at the bottom.
	x0, y0 := gap+nameW, labelHeight
	assert.Equal(t, quantViridis(1), color.RGBAModel.Convert(img.At(x0+tile/2, y0+tile/2)))
	assert.Equal(t, quantViridis(0), color.RGBAModel.Convert(img.At(x0+1, y0+1)))
	if out := os.Getenv("MEDNCA_PLOT_OUT"); out != "" {
		require.NoError(t, SavePNG(filepath.Join(out, "growth.png"), img))
	}
}

func TestGrowthGIF(t *testing.T) {
	frames := growthFrames()
	path := filepath.Join(t.TempDir(), "growth.gif")
	require.NoError(t, SaveGrowthGIF(path, frames, 2, 10))

	data, err := os.ReadFile(path)
	require.NoError(t, err)
	anim, err := gif.DecodeAll(bytes.NewReader(data))
	require.NoError(t, err)
	require.Len(t, anim.Image, len(frames))
	assert.Equal(t, 10, anim.Delay[0])
	assert.Equal(t, 40, anim.Delay[len(frames)-1], "the final state stays longer")

	// Every frame has the same size: two 64-pixel tiles with text strips.
	want := image.Rect(0, 0, gap+2*(64+gap), labelHeight+64+labelHeight)
	for i, fr := range anim.Image {
		assert.Equal(t, want, fr.Bounds(), "frame %d", i)
	}

	// The lesion grows: more high-probability pixels in the last frame.
	bright := func(p *image.Paletted) int {
		return nearColor(p, image.Rect(gap, labelHeight, gap+64, labelHeight+64), quantViridis(1), 0)
	}
	assert.Greater(t, bright(anim.Image[len(frames)-1]), bright(anim.Image[3]))
	assert.Greater(t, bright(anim.Image[3]), 0)
}

func TestGrowthGIFErrors(t *testing.T) {
	_, err := GrowthGIFBytes(nil, 1, 10)
	assert.ErrorContains(t, err, "no growth frames")
	bad := []GrowthFrame{{Level: 2, Step: 7, Size: 4, Channels: [][]float32{make([]float32, 15)}}}
	_, err = GrowthGIFBytes(bad, 1, 10)
	assert.ErrorContains(t, err, "level 2 step 7")
	assert.Panics(t, func() { GrowthStrip(bad, 1) })
}

package isic

import (
	"math"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSyntheticSampleIsDeterministic(t *testing.T) {
	opts := DefaultSyntheticOptions()
	rgb, mask := SyntheticSample(3, 17, opts)
	rgb2, mask2 := SyntheticSample(3, 17, opts)
	assert.Equal(t, rgb.Pix, rgb2.Pix)
	assert.Equal(t, mask.Pix, mask2.Pix)
	assert.Equal(t, 128, rgb.Bounds().Dx())

	other, otherMask := SyntheticSample(3, 18, opts)
	assert.NotEqual(t, rgb.Pix, other.Pix)
	assert.NotEqual(t, mask.Pix, otherMask.Pix)
	_, seedMask := SyntheticSample(4, 17, opts)
	assert.NotEqual(t, mask.Pix, seedMask.Pix)

	// Hair and vignetting change the picture, not the lesion.
	plain, plainMask := SyntheticSample(3, 17, SyntheticOptions{})
	assert.Equal(t, mask.Pix, plainMask.Pix)
	assert.NotEqual(t, rgb.Pix, plain.Pix)
}

func TestSyntheticSampleAtAnySize(t *testing.T) {
	// The same scene at two sizes: the large mask, downscaled, is the
	// small one up to a ring of border pixels.
	for i := range 5 {
		_, small := SyntheticSample(1, i, SyntheticOptions{Size: 32})
		_, large := SyntheticSample(1, i, SyntheticOptions{Size: 256})
		down, _ := PreprocessMask(large, 32)
		direct, _ := PreprocessMask(small, 32)
		assert.Greater(t, iou(down, direct), 0.85, "sample %d", i)
	}
	rgb, mask := SyntheticSample(1, 0, SyntheticOptions{Size: 7})
	assert.Equal(t, 7, rgb.Bounds().Dy())
	assert.Equal(t, 7, mask.Bounds().Dx())
}

// lesionStats returns the lesion fraction of sample i of d, the mean luma
// of the skin within 3 pixels around the lesion minus that of the lesion,
// and the lesion's centroid.
func lesionStats(d *Dataset, i int) (fraction, contrast, cx, cy float64) {
	const ring = 3
	size, mask, img := d.Size, d.Mask(i), d.Image(i)
	var in, around, nIn, nAround float64
	for p, m := range mask {
		x, y, v := p%size, p/size, float64(img[p])
		if m > 0 {
			in, nIn = in+v, nIn+1
			cx, cy = cx+float64(x), cy+float64(y)
			continue
		}
		near := false
		for yy := max(y-ring, 0); yy <= min(y+ring, size-1) && !near; yy++ {
			for xx := max(x-ring, 0); xx <= min(x+ring, size-1) && !near; xx++ {
				near = mask[yy*size+xx] > 0
			}
		}
		if near {
			around, nAround = around+v, nAround+1
		}
	}
	n := float64(size * size)
	return nIn / n, around/max(nAround, 1) - in/max(nIn, 1), cx / max(nIn, 1) / float64(size),
		cy / max(nIn, 1) / float64(size)
}

func TestSyntheticLooksLikeLesions(t *testing.T) {
	const n = 200
	d := Synthetic(n, 11, DefaultSyntheticOptions())
	require.Equal(t, n, d.Len())
	requireUnit(t, d.Images)
	requireBinary(t, d.Masks)
	assert.Equal(t, "SYN_0000199", d.IDs[n-1])
	assert.Nil(t, d.Report)

	var faint, darker, offCentre int
	var minFrac, maxFrac = 1.0, 0.0
	for i := range n {
		frac, contrast, cx, cy := lesionStats(d, i)
		minFrac, maxFrac = min(minFrac, frac), max(maxFrac, frac)
		if contrast > 0 {
			darker++
		}
		if contrast < 0.08 {
			faint++
		}
		if math.Hypot(cx-0.5, cy-0.5) > 0.15 {
			offCentre++
		}
	}

	// Sizes span the range asked for (the outline adds some spread), the
	// lesion is darker than skin, some are faint, many are off centre.
	assert.Less(t, minFrac, 0.08)
	assert.Greater(t, maxFrac, 0.35)
	assert.Greater(t, minFrac, 0.01)
	assert.Less(t, maxFrac, 0.65)
	assert.InDelta(t, 0.25, d.LesionFraction(), 0.07)
	assert.Greater(t, darker, n*95/100)
	assert.Greater(t, faint, n/20)
	assert.Greater(t, offCentre, n/4)
}

func TestWriteSyntheticLayout(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, WriteSynthetic(dir, 3, 5, SyntheticOptions{Size: 40}))
	for i := range 3 {
		img := filepath.Join(dir, trainImages, SyntheticID(i)+".jpg")
		mask := filepath.Join(dir, trainMasks, SyntheticID(i)+"_segmentation.png")
		cfg, err := DecodeConfigFile(img)
		require.NoError(t, err)
		assert.Equal(t, 40, cfg.Width)
		decoded, err := DecodeFile(mask)
		require.NoError(t, err)
		m, nonBinary := PreprocessMask(decoded, 40)
		assert.False(t, nonBinary, "masks hold only 0 and 255")
		_, want := SyntheticSample(5, i, SyntheticOptions{Size: 40})
		for p, v := range want.Pix {
			require.Equal(t, float32(v/255), m[p])
		}
	}

	// A folder that cannot be created is an error that names it.
	blocked := filepath.Join(dir, trainImages, SyntheticID(0)+".jpg")
	err := WriteSynthetic(blocked, 1, 5, SyntheticOptions{Size: 8})
	require.Error(t, err)
	assert.Contains(t, err.Error(), blocked)
}

func TestSyntheticOptionsValidation(t *testing.T) {
	assert.Panics(t, func() { Synthetic(1, 1, SyntheticOptions{MinArea: 0.5, MaxArea: 0.2}) })
	assert.Panics(t, func() { Synthetic(1, 1, SyntheticOptions{Size: -1}) })
	small := Synthetic(20, 1, SyntheticOptions{Size: 32, MinArea: 0.05, MaxArea: 0.06})
	assert.InDelta(t, 0.055, small.LesionFraction(), 0.03)
}

package isic

import (
	"fmt"
	"image"
	"math"

	"golang.org/x/image/draw"
)

// PreprocessImage converts img to gray by luma (BT.601) and resizes it to
// size x size with a Catmull-Rom filter, widened when downscaling so that
// every source pixel contributes (no aliasing). Images more than twice the
// target size are first box-averaged by an integer factor, to at least
// twice the target size, which keeps the cost low for large originals.
// Non-square images are stretched to the square. Values are in [0,1],
// row-major.
func PreprocessImage(img image.Image, size int) []float32 {
	checkSize(size)
	b := img.Bounds()
	rows, w, h := boxReduce(lumaRows(img), b.Dx(), b.Dy(), size)
	out := resize(rows, w, h, size, draw.CatmullRom)
	for i, v := range out {
		// Catmull-Rom has negative lobes that overshoot at sharp edges.
		out[i] = min(max(v, 0), 1)
	}
	return out
}

// boxReduce wraps rows of a w x h image into the rows of the image averaged
// over blocks of fx x fy pixels, the largest integer factors that keep it at
// least 2*size on each side, and returns its size. Blocks cut by the right
// or bottom edge average the pixels they hold.
func boxReduce(rows rowReader, w, h, size int) (rowReader, int, int) {
	fx, fy := max(w/(2*size), 1), max(h/(2*size), 1)
	if fx == 1 && fy == 1 {
		return rows, w, h
	}
	rw, rh := (w+fx-1)/fx, (h+fy-1)/fy
	line := make([]float32, w)
	reduced := func(y int, dst []float32) {
		clear(dst)
		y0, y1 := y*fy, min((y+1)*fy, h)
		for sy := y0; sy < y1; sy++ {
			rows(sy, line)
			for o := range dst {
				var sum float32
				for _, v := range line[o*fx : min((o+1)*fx, w)] {
					sum += v
				}
				dst[o] += sum
			}
		}
		for o := range dst {
			dst[o] /= float32((y1 - y0) * (min((o+1)*fx, w) - o*fx))
		}
	}
	return reduced, rw, rh
}

// PreprocessMask converts a lesion mask to size x size values in {0,1}.
//
// A mask whose pixels take exactly two values, 0 and one other, is binary
// whatever that value is (255, 65535, or 1 in label-style masks). Any other
// mask is nonBinary: its luma is thresholded at one half. The binary mask is
// then resized with the area filter (bilinear when enlarging) and
// thresholded at one half again, so a resized pixel is lesion when most of
// its area was.
func PreprocessMask(img image.Image, size int) (mask []float32, nonBinary bool) {
	checkSize(size)
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	binary, nonBinary := binaryRows(img)

	// The area filter makes "most of its area" exact when shrinking; when
	// growing, bilinear interpolation gives smooth outlines.
	var filter *draw.Kernel
	if w < size || h < size {
		filter = draw.BiLinear
	}
	mask = resize(binary, w, h, size, filter)
	for i, v := range mask {
		mask[i] = b2f(v >= 0.5)
	}
	return mask, nonBinary
}

// binaryRows returns the rows of mask img binarized to 0 and 1 (see
// [PreprocessMask]) and whether img was nonBinary. 8-bit gray masks, the
// usual PNG masks, are read as bytes; others through their luma.
func binaryRows(img image.Image) (rowReader, bool) {
	if g, ok := img.(*image.Gray); ok {
		return grayBinaryRows(g)
	}
	b := img.Bounds()
	rows := lumaRows(img)
	row := make([]float32, b.Dx())
	var lesion float32
	nonBinary := false
	for y := 0; y < b.Dy() && !nonBinary; y++ {
		rows(y, row)
		for _, v := range row {
			if v == 0 || v == lesion {
				continue
			}
			if lesion != 0 {
				nonBinary = true
				break
			}
			lesion = v
		}
	}

	// Binary: any non-zero pixel is lesion, even when lesion is marked by a
	// tiny value such as 1.
	threshold := float32(0.5)
	if !nonBinary {
		threshold = math.SmallestNonzeroFloat32
	}
	return func(y int, dst []float32) {
		rows(y, dst)
		for x, v := range dst {
			dst[x] = b2f(v >= threshold)
		}
	}, nonBinary
}

// grayBinaryRows is binaryRows for an 8-bit gray mask.
func grayBinaryRows(g *image.Gray) (rowReader, bool) {
	b := g.Bounds()
	var lesion uint8
	nonBinary := false
	for y := b.Min.Y; y < b.Max.Y && !nonBinary; y++ {
		for _, v := range g.Pix[g.PixOffset(b.Min.X, y):][:b.Dx()] {
			if v == 0 || v == lesion {
				continue
			}
			if lesion != 0 {
				nonBinary = true
				break
			}
			lesion = v
		}
	}
	threshold := 1
	if nonBinary {
		threshold = 128 // v/255 >= 0.5, as for the other masks.
	}
	var lut [256]float32
	for v := threshold; v < 256; v++ {
		lut[v] = 1
	}
	return func(y int, dst []float32) {
		for x, v := range g.Pix[g.PixOffset(b.Min.X, b.Min.Y+y):][:len(dst)] {
			dst[x] = lut[v]
		}
	}, nonBinary
}

// b2f is 1 for true and 0 for false.
func b2f(b bool) float32 {
	if b {
		return 1
	}
	return 0
}

// checkSize panics on a target size no image can have: it is a programming
// error, since flags and options are validated where the user sets them.
func checkSize(size int) {
	if size <= 0 {
		panic(fmt.Sprintf("isic: image size must be positive, got %d", size))
	}
}

// taps lists, for each output pixel along one axis, the weights of the
// contiguous source pixels that contribute to it: output o reads source
// pixels start[o], start[o]+1, ... with weights w[off[o]:off[o+1]].
type taps struct {
	start []int
	off   []int
	w     []float32
}

// weights returns the weights of output o and the source pixels they apply
// to, as two slices of equal length.
func (t *taps) weights(o int, src []float32) ([]float32, []float32) {
	w := t.w[t.off[o]:t.off[o+1]]
	return w, src[t.start[o] : t.start[o]+len(w)]
}

// newTaps computes the filter taps to resample srcLen pixels into dstLen.
// Pixel centres are aligned (pixel i covers [i, i+1)), the kernel is
// widened by the downscale factor, source pixels past the edge repeat the
// edge, and the weights of each output sum to one. A nil kernel is the area
// filter: each output averages the source pixels it covers, weighted by
// how much of them it covers.
func newTaps(srcLen, dstLen int, k *draw.Kernel) taps {
	scale := float64(srcLen) / float64(dstLen)
	widen := max(scale, 1)
	support := 0.5 * widen
	if k != nil {
		support = k.Support * widen
	}
	t := taps{start: make([]int, dstLen), off: make([]int, 1, dstLen+1)}
	for o := range dstLen {
		center := (float64(o) + 0.5) * scale
		first := max(int(math.Floor(center-support)), 0)
		last := min(int(math.Ceil(center+support)), srcLen-1)
		t.start[o] = first
		w := make([]float64, last-first+1)
		for i := int(math.Floor(center - support)); i <= int(math.Ceil(center+support)); i++ {
			j := min(max(i, first), last) - first // Past the edge: the edge.
			if k == nil {
				lo, hi := max(float64(i), center-support), min(float64(i+1), center+support)
				w[j] += max(hi-lo, 0)
				continue
			}
			// Kernel.At takes distances in [0, Support).
			if dist := math.Abs(float64(i)+0.5-center) / widen; dist < k.Support {
				w[j] += k.At(dist)
			}
		}
		var sum float64
		for _, v := range w {
			sum += v
		}
		for _, v := range w {
			t.w = append(t.w, float32(v/sum))
		}
		t.off = append(t.off, len(t.w))
	}
	return t
}

// resize resamples a w x h image, read row by row from rows, to size x size
// with kernel k (nil: the area filter), separably: each source row is
// filtered horizontally as it is read, so memory is h x size floats however
// large the source is.
func resize(rows rowReader, w, h, size int, k *draw.Kernel) []float32 {
	tx, ty := newTaps(w, size, k), newTaps(h, size, k)
	line := make([]float32, w)
	narrow := make([]float32, h*size)
	for y := range h {
		rows(y, line)
		dst := narrow[y*size : (y+1)*size]
		for o := range dst {
			ws, src := tx.weights(o, line)
			var sum float32
			for j, wt := range ws {
				sum += wt * src[j]
			}
			dst[o] = sum
		}
	}

	out := make([]float32, size*size)
	for o := range size {
		dst := out[o*size : (o+1)*size]
		ws := ty.w[ty.off[o]:ty.off[o+1]]
		for j, wt := range ws {
			src := narrow[(ty.start[o]+j)*size:][:size]
			for x, v := range src {
				dst[x] += wt * v
			}
		}
	}
	return out
}

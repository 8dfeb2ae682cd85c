package main

import (
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"math"
	"os"
	"path/filepath"
	"strings"

	"github.com/mednca/mednca/isic"
	"github.com/mednca/mednca/nca"
	"github.com/mednca/mednca/plotting"
)

func init() {
	register("predict", "segment JPEG or PNG images: mask, overlay and uncertainty map at the original size",
		runPredict)
}

const predictUsage = `--checkpoint PATH --out DIR [--ensemble K] IMAGE...

Segments each image with a trained model: the image is reduced to the
model's size, run K times with independent fire masks, and the mean and
standard deviation of the lesion probability are enlarged back to the
image's own size (bilinear). For IMAGE named NAME.jpg it writes, in --out:

  NAME_mask.png         the lesion mask: 255 where the mean probability is at least 0.5, else 0
  NAME_overlay.png      the image tinted and outlined where the mask is set
  NAME_uncertainty.png  the standard deviation over the K runs (viridis, 0 to 0.5)

and prints the lesion fraction and the quality score (sum of std / sum of
mean probability; lower is more certain). An image that cannot be read is
reported and the others are still segmented.`

// predictThreshold is the mean probability from which a pixel is lesion.
const predictThreshold = 0.5

func runPredict(args []string) error {
	fs := newFlagSet("predict", predictUsage)
	checkpoint := fs.String("checkpoint", "", checkpointHelp)
	out := fs.String("out", "", "folder for the mask, overlay and uncertainty pictures (required; created)")
	ensemble := fs.Int("ensemble", 8, "stochastic runs per image (1: no uncertainty map)")
	backendName := fs.String("backend", "", backendHelp)
	inputs, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if err := checkPredictFlags(*checkpoint, *out, *ensemble, inputs); err != nil {
		return err
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return fmt.Errorf("--out %s: cannot create the folder: %w", *out, err)
	}
	m, _, err := loadCheckpointModel(*backendName, *checkpoint)
	if err != nil {
		return err
	}

	// Every image is tried; failures are listed at the end.
	stems, planErrs := planPredictOutputs(inputs, *out)
	var failed []string
	for i, input := range inputs {
		err := planErrs[i]
		if err == nil {
			err = predictImage(m, input, filepath.Join(*out, stems[i]), *ensemble)
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "mednca predict: %v\n", err)
			failed = append(failed, input)
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("%d of %d images failed: %s", len(failed), len(inputs), strings.Join(failed, ", "))
	}
	return nil
}

func checkPredictFlags(checkpoint, out string, ensemble int, inputs []string) error {
	switch {
	case checkpoint == "":
		return fmt.Errorf("--checkpoint is required: pass a training folder (output/training_*), its " +
			"checkpoints/ folder or a .bin file")
	case out == "":
		return fmt.Errorf("--out is required: the folder that receives the pictures (created if missing)")
	case ensemble < 1:
		return fmt.Errorf("--ensemble %d: must be at least 1 (8 gives a useful uncertainty map)", ensemble)
	case len(inputs) == 0:
		return fmt.Errorf("no image given: pass one or more JPEG or PNG files after the flags")
	}
	return nil
}

// predictSuffixes are the endings of the three pictures written per image.
var predictSuffixes = []string{"_mask.png", "_overlay.png", "_uncertainty.png"}

// planPredictOutputs returns the output name stem of every input, and an
// error for inputs whose pictures would replace an input or the pictures
// of an earlier input with the same name.
func planPredictOutputs(inputs []string, out string) ([]string, []error) {
	stems := make([]string, len(inputs))
	errs := make([]error, len(inputs))
	inputPaths := map[string]bool{}
	for _, input := range inputs {
		inputPaths[absPath(input)] = true
	}
	owner := map[string]string{}
	for i, input := range inputs {
		base := filepath.Base(input)
		stems[i] = strings.TrimSuffix(base, filepath.Ext(base))
		if first, dup := owner[stems[i]]; dup {
			errs[i] = fmt.Errorf("%s has the same name as %s, so its pictures would replace that image's "+
				"in %s; rename one or run them separately", input, first, out)
			continue
		}
		owner[stems[i]] = input
		for _, suffix := range predictSuffixes {
			if path := filepath.Join(out, stems[i]+suffix); inputPaths[absPath(path)] {
				errs[i] = fmt.Errorf("%s: its output %s would overwrite an input image; choose another --out",
					input, path)
			}
		}
	}
	return stems, errs
}

func absPath(path string) string {
	if abs, err := filepath.Abs(path); err == nil {
		return abs
	}
	return filepath.Clean(path)
}

// predictImage segments one image file and writes its three pictures as
// stem + suffix. Every error names the image file.
func predictImage(m *nca.Model, path, stem string, ensemble int) error {
	// The decoder's errors already name the file.
	img, err := isic.DecodeFile(path)
	if err != nil {
		return err
	}
	size := m.Config.ImageSize
	r, err := m.Ensemble(isic.PreprocessImage(img, size), ensemble)
	if err != nil {
		return fmt.Errorf("%s: segmenting: %w", path, err)
	}

	// The maps are enlarged to the image's own size before thresholding, so
	// the mask outline is smooth rather than made of model-sized blocks.
	b := img.Bounds()
	up := newBilinear(size, b.Dx(), b.Dy())
	mask, lesion := up.threshold(r.Mean, predictThreshold)
	pictures := []image.Image{
		mask,
		overlayMask(img, mask),
		up.colorMap(r.Std, plotting.StdRange),
	}
	for i, suffix := range predictSuffixes {
		if err := plotting.SavePNG(stem+suffix, pictures[i]); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
	}
	fmt.Printf("%s: %dx%d, lesion %.1f%% of the image, quality %.4f -> %s_{mask,overlay,uncertainty}.png\n",
		path, b.Dx(), b.Dy(), 100*lesion, r.Quality, stem)
	return nil
}

// bilinear enlarges (or reduces) a square n x n map to w x h with bilinear
// interpolation between pixel centres, clamped at the borders.
type bilinear struct {
	n, w, h int
	x0, x1  []int
	fx      []float32
	y0, y1  []int
	fy      []float32
}

func newBilinear(n, w, h int) *bilinear {
	b := &bilinear{n: n, w: w, h: h}
	b.x0, b.x1, b.fx = bilinearTaps(n, w)
	b.y0, b.y1, b.fy = bilinearTaps(n, h)
	return b
}

// bilinearTaps returns, for each of out positions, the two source indices
// among n and the weight of the second.
func bilinearTaps(n, out int) (i0, i1 []int, f []float32) {
	i0, i1, f = make([]int, out), make([]int, out), make([]float32, out)
	for i := range out {
		s := (float64(i)+0.5)*float64(n)/float64(out) - 0.5
		s = math.Min(math.Max(s, 0), float64(n-1))
		lo := int(s)
		i0[i], i1[i], f[i] = lo, min(lo+1, n-1), float32(s-float64(lo))
	}
	return i0, i1, f
}

// at is the value of the n x n map v at output pixel (x, y).
func (b *bilinear) at(v []float32, x, y int) float32 {
	r0, r1 := b.y0[y]*b.n, b.y1[y]*b.n
	top := v[r0+b.x0[x]] + (v[r0+b.x1[x]]-v[r0+b.x0[x]])*b.fx[x]
	bottom := v[r1+b.x0[x]] + (v[r1+b.x1[x]]-v[r1+b.x0[x]])*b.fx[x]
	return top + (bottom-top)*b.fy[y]
}

// threshold returns the enlarged map as a 0/255 mask, 255 where it is at
// least t, and the fraction of pixels set.
func (b *bilinear) threshold(v []float32, t float32) (*image.Gray, float64) {
	mask := image.NewGray(image.Rect(0, 0, b.w, b.h))
	set := 0
	for y := range b.h {
		row := mask.Pix[y*mask.Stride:]
		for x := range b.w {
			if b.at(v, x, y) >= t {
				row[x] = 255
				set++
			}
		}
	}
	return mask, float64(set) / float64(b.w*b.h)
}

// colorMap returns the enlarged map in the viridis colour map over [0, hi].
func (b *bilinear) colorMap(v []float32, hi float64) *image.RGBA {
	dst := image.NewRGBA(image.Rect(0, 0, b.w, b.h))
	for y := range b.h {
		for x := range b.w {
			dst.SetRGBA(x, y, plotting.Viridis(float64(b.at(v, x, y))/hi))
		}
	}
	return dst
}

// overlayMask returns img tinted with plotting.PredColor where mask is set
// and outlined along the mask's border.
func overlayMask(img image.Image, mask *image.Gray) *image.RGBA {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	dst := image.NewRGBA(image.Rect(0, 0, w, h))
	draw.Draw(dst, dst.Bounds(), img, b.Min, draw.Src)

	// The outline is thick enough to see on a large photograph.
	thickness := max(1, min(w, h)/150)
	inside := func(x, y int) bool {
		return x >= 0 && y >= 0 && x < w && y < h && mask.Pix[y*mask.Stride+x] != 0
	}
	for y := range h {
		for x := range w {
			if !inside(x, y) {
				continue
			}
			edge := !inside(x-thickness, y) || !inside(x+thickness, y) ||
				!inside(x, y-thickness) || !inside(x, y+thickness)
			c := plotting.PredColor
			if !edge {
				c = tint(dst.RGBAAt(x, y), plotting.PredColor, plotting.PredTint)
			}
			dst.SetRGBA(x, y, c)
		}
	}
	return dst
}

// tint mixes c over base with opacity alpha.
func tint(base, c color.RGBA, alpha float64) color.RGBA {
	mix := func(a, b uint8) uint8 { return uint8(float64(a)*(1-alpha) + float64(b)*alpha + 0.5) }
	return color.RGBA{R: mix(base.R, c.R), G: mix(base.G, c.G), B: mix(base.B, c.B), A: 255}
}

package isic

import (
	"fmt"
	"image"
	"image/jpeg"
	"image/png"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
)

// SyntheticOptions configures the synthetic lesions of [Synthetic] and
// [SyntheticSample]. The zero value draws 128 x 128 lesions without hair or
// vignetting; [DefaultSyntheticOptions] turns both on.
type SyntheticOptions struct {
	// Size is N, the side of the square images; 0 means 128.
	Size int
	// Hair draws dark thin hair strands across some images, over skin and
	// lesion alike (the mask ignores them, as ISIC masks do).
	Hair bool
	// Vignette darkens the corners of some images, and frames a few with
	// the black ring of a dermoscope's lens.
	Vignette bool
	// MinArea and MaxArea bound the fraction of the image the lesion
	// covers; 0 means 0.05 and 0.45.
	MinArea, MaxArea float64
}

// DefaultSyntheticOptions are the options of the default training data:
// 128 x 128, with hair and vignetting.
func DefaultSyntheticOptions() SyntheticOptions {
	return SyntheticOptions{Size: DefaultSize, Hair: true, Vignette: true}
}

// withDefaults fills the zero fields of o.
func (o SyntheticOptions) withDefaults() SyntheticOptions {
	if o.Size == 0 {
		o.Size = DefaultSize
	}
	if o.MinArea == 0 {
		o.MinArea = 0.05
	}
	if o.MaxArea == 0 {
		o.MaxArea = 0.45
	}
	checkSize(o.Size)
	if !(0 < o.MinArea && o.MinArea <= o.MaxArea && o.MaxArea < 1) {
		panic(fmt.Sprintf("isic: synthetic lesion area bounds [%g, %g] are invalid: want "+
			"0 < MinArea <= MaxArea < 1", o.MinArea, o.MaxArea))
	}
	return o
}

// SyntheticID is the id of synthetic sample index, as used by [Synthetic]
// and by the file names of [WriteSynthetic].
func SyntheticID(index int) string { return fmt.Sprintf("SYN_%07d", index) }

// Synthetic returns n synthetic samples: the gray images (luma) and exact
// masks of SyntheticSample(seed, i, opts) for i in [0, n), generated on all
// cores.
func Synthetic(n int, seed int64, opts SyntheticOptions) *Dataset {
	opts = opts.withDefaults()
	pixels := opts.Size * opts.Size
	d := &Dataset{
		Size:   opts.Size,
		IDs:    make([]string, n),
		Images: make([]float32, n*pixels),
		Masks:  make([]float32, n*pixels),
		Source: fmt.Sprintf("synthetic (seed %d)", seed),
	}
	parallelFor(n, 0, func(i int) {
		rgb, mask := SyntheticSample(seed, i, opts)
		d.IDs[i] = SyntheticID(i)
		copy(d.Image(i), PreprocessImage(rgb, opts.Size))
		for j, v := range mask.Pix {
			d.Masks[i*pixels+j] = b2f(v > 127)
		}
	}, nil)
	return d
}

// WriteSynthetic writes n synthetic samples into dir in the official ISIC
// 2018 layout, images as JPEG and masks as 0/255 PNG, named by
// [SyntheticID]:
//
//	dir/ISIC2018_Task1-2_Training_Input/SYN_0000000.jpg
//	dir/ISIC2018_Task1_Training_GroundTruth/SYN_0000000_segmentation.png
func WriteSynthetic(dir string, n int, seed int64, opts SyntheticOptions) error {
	opts = opts.withDefaults()
	imageDir := filepath.Join(dir, "ISIC2018_Task1-2_Training_Input")
	maskDir := filepath.Join(dir, "ISIC2018_Task1_Training_GroundTruth")
	for _, d := range []string{imageDir, maskDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("cannot create folder for synthetic data: %w", err)
		}
	}
	errs := make([]error, n)
	parallelFor(n, 0, func(i int) {
		rgb, mask := SyntheticSample(seed, i, opts)
		id := SyntheticID(i)
		errs[i] = writeImage(filepath.Join(imageDir, id+".jpg"), func(f *os.File) error {
			return jpeg.Encode(f, rgb, &jpeg.Options{Quality: 92})
		})
		if errs[i] == nil {
			errs[i] = writeImage(filepath.Join(maskDir, id+maskSuffix), func(f *os.File) error {
				return png.Encode(f, mask)
			})
		}
	}, nil)
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// writeImage creates path and fills it with encode.
func writeImage(path string, encode func(f *os.File) error) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("cannot write synthetic sample: %w", err)
	}
	err = encode(f)
	if closeErr := f.Close(); err == nil {
		err = closeErr
	}
	if err != nil {
		return fmt.Errorf("cannot write synthetic sample %s: %w", path, err)
	}
	return nil
}

// SyntheticSample draws synthetic dermoscopy image index of the set seed: a
// darker irregular lesion on textured skin, and its exact mask (255 on
// lesion, 0 elsewhere). The same (seed, index) gives the same picture at
// any size: the scene is defined in coordinates relative to the image side,
// and Hair and Vignette do not change the lesion.
func SyntheticSample(seed int64, index int, opts SyntheticOptions) (*image.RGBA, *image.Gray) {
	opts = opts.withDefaults()
	s := newScene(seed, index, opts)
	size := opts.Size
	rgb := image.NewRGBA(image.Rect(0, 0, size, size))
	mask := image.NewGray(rgb.Bounds())
	for py := range size {
		for px := range size {
			// Pixel centres in [0,1) coordinates.
			x, y := (float64(px)+0.5)/float64(size), (float64(py)+0.5)/float64(size)
			c, inside := s.color(x, y, px, py, size)
			i := py*rgb.Stride + 4*px
			for k := range 3 {
				rgb.Pix[i+k] = uint8(math.Round(255 * min(max(c[k], 0), 1)))
			}
			rgb.Pix[i+3] = 255
			if inside {
				mask.Pix[py*mask.Stride+px] = 255
			}
		}
	}
	return rgb, mask
}

// rgbColor is a linear colour with channels in [0,1].
type rgbColor [3]float64

// lerp mixes a and b: t=0 gives a, t=1 gives b.
func lerp(a, b rgbColor, t float64) rgbColor {
	return rgbColor{a[0] + (b[0]-a[0])*t, a[1] + (b[1]-a[1])*t, a[2] + (b[2]-a[2])*t}
}

// scale multiplies every channel of c by f.
func (c rgbColor) scale(f float64) rgbColor { return rgbColor{c[0] * f, c[1] * f, c[2] * f} }

// Colour ranges of the scene: skin from pale to tanned, lesion pigment from
// dark to light brown, and the blue-grey of deep pigment.
var (
	paleSkin   = rgbColor{0.93, 0.77, 0.70}
	pinkSkin   = rgbColor{0.90, 0.68, 0.70}
	tannedSkin = rgbColor{0.74, 0.52, 0.40}
	darkBrown  = rgbColor{0.30, 0.17, 0.11}
	lightBrown = rgbColor{0.58, 0.38, 0.27}
	blueGrey   = rgbColor{0.40, 0.38, 0.45}
)

// harmonic is one term of the lesion boundary's radius.
type harmonic struct {
	k           int
	amp, offset float64
}

// strand is one hair: a quadratic Bézier curve, sampled as a polyline.
type strand struct {
	points     []point
	width      float64
	darkness   float64
	box0, box1 point
}

// point is a point in [0,1) image coordinates.
type point struct{ x, y float64 }

// scene is everything drawn in one synthetic sample.
type scene struct {
	salt uint64

	skin                        rgbColor
	skinTexture, skinScale      float64
	skinLines                   float64
	cx, cy, radius              float64
	harmonics                   []harmonic
	border, ragged, raggedScale float64
	blotches, network           float64
	contrast                    float64
	pigment, secondPigment      rgbColor
	pigmentScale, globuleAmount float64
	centerDarkening             float64

	hair                      []strand
	vignette, frame           float64
	grain                     float64
	lightX, lightY, lightGain float64
}

// newScene draws the parameters of sample index of set seed. Lesion, hair
// and vignette draw from separate streams, so options that turn hair or
// vignette off leave the lesion unchanged.
func newScene(seed int64, index int, opts SyntheticOptions) *scene {
	salt := mix64(uint64(seed)*0x9e3779b97f4a7c15 ^ mix64(uint64(index)+0x632be59bd9b4e019))
	rng := rand.New(rand.NewPCG(salt, 1))
	s := &scene{salt: salt}
	s.drawSkin(rng)
	s.drawLesion(rng, opts)
	if opts.Hair {
		s.drawHair(rand.New(rand.NewPCG(salt, 2)))
	}
	if opts.Vignette {
		vr := rand.New(rand.NewPCG(salt, 3))
		s.vignette = 0.6 * vr.Float64() * vr.Float64()
		if vr.Float64() < 0.15 {
			s.frame = 0.47 + 0.08*vr.Float64()
		}
	}
	return s
}

// drawSkin draws the skin tone, its texture and the lighting.
func (s *scene) drawSkin(rng *rand.Rand) {
	s.skin = lerp(lerp(paleSkin, pinkSkin, rng.Float64()), tannedSkin, rng.Float64()*rng.Float64())
	s.skin[0] += 0.04 * (rng.Float64() - 0.5) // Redness varies between people.
	s.skinTexture = 0.04 + 0.06*rng.Float64()
	s.skinScale = 5 + 7*rng.Float64()
	s.skinLines = 0.05 * rng.Float64()
	s.grain = 0.01 + 0.015*rng.Float64()
	s.lightX, s.lightY = rng.Float64(), rng.Float64()
	s.lightGain = 0.12 * rng.Float64()
}

// drawLesion draws the lesion's place, outline and colouring.
func (s *scene) drawLesion(rng *rand.Rand, opts SyntheticOptions) {
	area := opts.MinArea + (opts.MaxArea-opts.MinArea)*rng.Float64()
	s.radius = math.Sqrt(area / math.Pi)

	// Mostly inside the image, not always centred; large ones may touch
	// the border as in real crops.
	margin := min(0.7*s.radius, 0.5)
	s.cx = margin + (1-2*margin)*rng.Float64()
	s.cy = margin + (1-2*margin)*rng.Float64()

	// Low harmonics bend the outline, high ones make it ragged.
	for k := 2; k <= 9; k++ {
		amp := rng.Float64() * 0.28 / math.Pow(float64(k), 1.1)
		if k > 5 && rng.Float64() < 0.5 {
			amp *= 0.3
		}
		s.harmonics = append(s.harmonics, harmonic{k: k, amp: amp, offset: 2 * math.Pi * rng.Float64()})
	}
	s.border = 0.004 + 0.03*rng.Float64()*rng.Float64()
	s.ragged = 0.5 * rng.Float64() * rng.Float64()
	s.raggedScale = 6 + 10*rng.Float64()

	// One lesion in four is faint, the hard case of real data.
	if rng.Float64() < 0.25 {
		s.contrast = 0.18 + 0.17*rng.Float64()
	} else {
		s.contrast = 0.35 + 0.55*rng.Float64()
	}
	s.pigment = lerp(darkBrown, lightBrown, rng.Float64())
	s.secondPigment = lerp(darkBrown, blueGrey, rng.Float64())
	if rng.Float64() < 0.5 {
		s.secondPigment = lerp(s.pigment, lightBrown, 0.6)
	}
	s.pigmentScale = 8 + 16*rng.Float64()
	s.globuleAmount = 0.45 * rng.Float64()
	s.blotches = 0.6 * rng.Float64()
	s.network = 0.35 * rng.Float64()
	s.centerDarkening = 0.4 * (rng.Float64() - 0.3)
}

// drawHair draws up to 6 hair strands over 40% of the images.
func (s *scene) drawHair(rng *rand.Rand) {
	if rng.Float64() < 0.6 {
		return
	}
	n := 1 + rng.IntN(6)
	for range n {
		// Ends anywhere, often outside the image: hairs cross it.
		p0 := point{1.4*rng.Float64() - 0.2, 1.4*rng.Float64() - 0.2}
		p2 := point{1.4*rng.Float64() - 0.2, 1.4*rng.Float64() - 0.2}
		p1 := point{(p0.x+p2.x)/2 + 0.4*(rng.Float64()-0.5), (p0.y+p2.y)/2 + 0.4*(rng.Float64()-0.5)}
		h := strand{width: 0.0015 + 0.004*rng.Float64(), darkness: 0.3 + 0.5*rng.Float64()}
		h.box0, h.box1 = point{math.Inf(1), math.Inf(1)}, point{math.Inf(-1), math.Inf(-1)}
		const segments = 24
		for i := range segments + 1 {
			t := float64(i) / segments
			a, b, c := (1-t)*(1-t), 2*t*(1-t), t*t
			p := point{a*p0.x + b*p1.x + c*p2.x, a*p0.y + b*p1.y + c*p2.y}
			h.points = append(h.points, p)
			h.box0 = point{min(h.box0.x, p.x), min(h.box0.y, p.y)}
			h.box1 = point{max(h.box1.x, p.x), max(h.box1.y, p.y)}
		}
		s.hair = append(s.hair, h)
	}
}

// boundary is the radius of the lesion outline in direction theta.
func (s *scene) boundary(theta float64) float64 {
	r := 1.0
	for _, h := range s.harmonics {
		r += h.amp * math.Cos(float64(h.k)*theta+h.offset)
	}
	return s.radius * max(r, 0.35)
}

// color is the colour at (x, y) in [0,1) coordinates, the centre of pixel
// (px, py) of a size x size image, and whether it is lesion.
func (s *scene) color(x, y float64, px, py, size int) (rgbColor, bool) {
	// Skin: tone times a smooth texture, lit unevenly.
	tex := fractalNoise(x*s.skinScale, y*s.skinScale, s.salt^1, 4) - 0.5
	light := 1 + s.lightGain*(0.5-math.Hypot(x-s.lightX, y-s.lightY))
	lines := fractalNoise(x*9*s.skinScale, y*9*s.skinScale, s.salt^6, 2)
	c := s.skin.scale((1 + 2*s.skinTexture*tex - s.skinLines*ridge(lines)) * light)

	// Lesion: signed depth below the outline, made ragged by noise, sets a
	// soft alpha; the mask is exactly where the depth is positive, the
	// middle of the soft border.
	dx, dy := x-s.cx, y-s.cy
	r := math.Hypot(dx, dy)
	edge := s.boundary(math.Atan2(dy, dx))
	rag := fractalNoise(x*s.raggedScale, y*s.raggedScale, s.salt^5, 3) - 0.5
	depth := edge - r + s.radius*s.ragged*rag
	inside := depth > 0
	if alpha := smoothstep(-s.border, s.border, depth); alpha > 0 {
		mix := fractalNoise(x*s.pigmentScale/3, y*s.pigmentScale/3, s.salt^2, 3)
		pig := lerp(s.pigment, s.secondPigment, smoothstep(0.35, 0.75, mix))
		globules := fractalNoise(x*s.pigmentScale, y*s.pigmentScale, s.salt^3, 2)
		pig = pig.scale(1 - s.globuleAmount*smoothstep(0.55, 0.8, globules))
		network := fractalNoise(x*3*s.pigmentScale, y*3*s.pigmentScale, s.salt^7, 2)
		pig = pig.scale(1 - s.network*ridge(network))
		blotch := 1 + s.blotches*(mix-0.5)
		strength := s.contrast * blotch * (1 + s.centerDarkening*(1-min(r/edge, 1)))
		c = lerp(c, pig.scale(light), alpha*min(strength, 1))
	}

	c = s.overHair(c, x, y, size)
	if s.vignette > 0 || s.frame > 0 {
		c = c.scale(s.vignetting(x, y, size))
	}

	// Sensor grain, per pixel.
	g := s.grain * (2*hash01(uint64(px), uint64(py), s.salt^4) - 1)
	return rgbColor{c[0] + g, c[1] + g, c[2] + g}, inside
}

// overHair darkens c under the hair strands crossing (x, y), with
// anti-aliased edges about one pixel wide.
func (s *scene) overHair(c rgbColor, x, y float64, size int) rgbColor {
	pixel := 1 / float64(size)
	for _, h := range s.hair {
		reach := h.width + pixel
		if x < h.box0.x-reach || x > h.box1.x+reach || y < h.box0.y-reach || y > h.box1.y+reach {
			continue
		}
		d := math.Inf(1)
		for i := 1; i < len(h.points); i++ {
			d = min(d, segmentDistance(x, y, h.points[i-1], h.points[i]))
		}
		// Hairs thinner than a pixel still show, fainter.
		width := max(h.width, pixel/2)
		cover := (1 - smoothstep(width-pixel/2, width+pixel/2, d)) * min(h.width/width, 1)
		c = c.scale(1 - h.darkness*cover)
	}
	return c
}

// vignetting is the light falloff at (x, y): darker corners, and black
// outside a dermoscope's ring when the scene has one.
func (s *scene) vignetting(x, y float64, size int) float64 {
	r := math.Hypot(x-0.5, y-0.5)
	f := 1 - s.vignette*smoothstep(0.3, 0.72, r)
	if s.frame > 0 {
		f *= 0.05 + 0.95*(1-smoothstep(s.frame-1.5/float64(size), s.frame, r))
	}
	return f
}

// segmentDistance is the distance from (x, y) to the segment ab.
func segmentDistance(x, y float64, a, b point) float64 {
	ex, ey := b.x-a.x, b.y-a.y
	t := ((x-a.x)*ex + (y-a.y)*ey) / max(ex*ex+ey*ey, 1e-12)
	t = min(max(t, 0), 1)
	return math.Hypot(x-a.x-t*ex, y-a.y-t*ey)
}

// ridge is 1 where noise n in [0,1] crosses one half and falls to 0 at its
// extremes: thin dark lines, like skin creases or a pigment network.
func ridge(n float64) float64 { return smoothstep(0.8, 1, 1-math.Abs(2*n-1)) }

// smoothstep rises smoothly from 0 at e0 to 1 at e1.
func smoothstep(e0, e1, v float64) float64 {
	t := min(max((v-e0)/(e1-e0), 0), 1)
	return t * t * (3 - 2*t)
}

// hash01 maps integers to a pseudo-random number in [0,1).
func hash01(a, b, salt uint64) float64 {
	return float64(mix64(salt^mix64(a*0x9e3779b97f4a7c15^b*0xc2b2ae3d27d4eb4f))>>11) / (1 << 53)
}

// valueNoise is smooth noise in [0,1): random values on the integer
// lattice, blended with a quintic fade.
func valueNoise(x, y float64, salt uint64) float64 {
	fx, fy := math.Floor(x), math.Floor(y)
	ix, iy := uint64(int64(fx)), uint64(int64(fy))
	tx, ty := fade(x-fx), fade(y-fy)
	v00, v10 := hash01(ix, iy, salt), hash01(ix+1, iy, salt)
	v01, v11 := hash01(ix, iy+1, salt), hash01(ix+1, iy+1, salt)
	top := v00 + (v10-v00)*tx
	bottom := v01 + (v11-v01)*tx
	return top + (bottom-top)*ty
}

// fade is the quintic ease curve of value noise.
func fade(t float64) float64 { return t * t * t * (t*(t*6-15) + 10) }

// fractalNoise sums octaves of value noise, each twice the frequency and
// half the amplitude of the last, normalized to [0,1).
func fractalNoise(x, y float64, salt uint64, octaves int) float64 {
	var sum, norm float64
	amp := 1.0
	for o := range octaves {
		sum += amp * valueNoise(x, y, salt+uint64(o)*0x9e3779b97f4a7c15)
		norm += amp
		x, y, amp = 2*x+17.3, 2*y+5.1, amp/2
	}
	return sum / norm
}

package isic

import (
	"bytes"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"math"
	"testing"
)

// fuzzMaxPixels keeps fuzzed images small, so every input runs fast; the
// size check is the same as the one of DecodeFile.
const fuzzMaxPixels = 1 << 16

// FuzzDecodePreprocess feeds arbitrary bytes to the decoder and, when they
// decode, to the image and mask preprocessing: nothing may panic, images
// must come out in [0,1] and masks in {0,1}.
func FuzzDecodePreprocess(f *testing.F) {
	for _, seed := range fuzzSeeds(f) {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		img, err := decode(bytes.NewReader(data), "fuzz", fuzzMaxPixels)
		if err != nil {
			if img != nil {
				t.Fatalf("decode returned an image with error %v", err)
			}
			return
		}
		b := img.Bounds()
		if b.Dx()*b.Dy() > fuzzMaxPixels {
			t.Fatalf("decoded %v, over the %d pixels allowed", b, fuzzMaxPixels)
		}
		for _, size := range []int{1, 7, 16} {
			gray := PreprocessImage(img, size)
			mask, _ := PreprocessMask(img, size)
			if len(gray) != size*size || len(mask) != size*size {
				t.Fatalf("size %d: got %d image and %d mask values", size, len(gray), len(mask))
			}
			for i := range gray {
				if !(gray[i] >= 0 && gray[i] <= 1) || math.IsNaN(float64(gray[i])) {
					t.Fatalf("image value %g at %d out of [0,1]", gray[i], i)
				}
				if mask[i] != 0 && mask[i] != 1 {
					t.Fatalf("mask value %g at %d not binary", mask[i], i)
				}
			}
		}
	})
}

// fuzzSeeds returns small valid images of each kind the loader meets, and
// broken copies of them.
func fuzzSeeds(tb testing.TB) [][]byte {
	rgb := gradient(9, 6)
	gray := copyAs(image.NewGray(rgb.Bounds()), rgb)
	pal := copyAs(image.NewPaletted(rgb.Bounds(), color.Palette{color.Black, color.White,
		color.RGBA{200, 100, 50, 255}}), rgb)
	var seeds [][]byte
	for _, img := range []image.Image{rgb, gray, copyAs(image.NewGray16(rgb.Bounds()), rgb), pal,
		copyAs(image.NewNRGBA(rgb.Bounds()), rgb)} {
		var buf bytes.Buffer
		if err := png.Encode(&buf, img); err != nil {
			tb.Fatal(err)
		}
		seeds = append(seeds, buf.Bytes())
	}
	for _, img := range []image.Image{rgb, gray} {
		var buf bytes.Buffer
		if err := jpeg.Encode(&buf, img, nil); err != nil {
			tb.Fatal(err)
		}
		seeds = append(seeds, buf.Bytes())
	}
	valid := len(seeds)
	for _, s := range seeds[:valid] {
		seeds = append(seeds, s[:len(s)/2])
	}
	return append(seeds, hugePNGHeader(1<<20, 1<<20), nil)
}

// TestFuzzSeedsDecode checks that the valid seeds of the fuzz target decode,
// so the fuzzer starts from real images.
func TestFuzzSeedsDecode(t *testing.T) {
	seeds := fuzzSeeds(t)
	for i, s := range seeds[:7] {
		if _, err := decode(bytes.NewReader(s), "seed", fuzzMaxPixels); err != nil {
			t.Errorf("seed %d: %v", i, err)
		}
	}
}

package isic

import (
	"bufio"
	"errors"
	"fmt"
	"image"
	"image/color"
	_ "image/jpeg" // Registers the JPEG decoder used for lesion images.
	_ "image/png"  // Registers the PNG decoder used for masks.
	"io"
	"os"
)

// MaxPixels is the largest image, in pixels (width x height), that
// [DecodeFile] accepts. Larger files are refused from their header, before
// any pixel is decoded, so a bad or hostile file cannot exhaust memory.
const MaxPixels = 100_000_000

// DecodeFile decodes the JPEG or PNG image at path. It reads the header
// first and refuses images over [MaxPixels]; every error names the file.
func DecodeFile(path string) (image.Image, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("cannot open image: %w", err)
	}
	defer f.Close()
	return decode(f, path, MaxPixels)
}

// DecodeConfigFile reads only the header of the JPEG or PNG image at path and
// returns its dimensions, refusing images over [MaxPixels].
func DecodeConfigFile(path string) (image.Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return image.Config{}, fmt.Errorf("cannot open image: %w", err)
	}
	defer f.Close()
	cfg, _, err := decodeConfig(bufio.NewReader(f), path, MaxPixels)
	return cfg, err
}

// decodeConfig reads an image header from r and checks its size against
// maxPixels. name is used in errors.
func decodeConfig(r io.Reader, name string, maxPixels int) (image.Config, string, error) {
	cfg, format, err := image.DecodeConfig(r)
	if errors.Is(err, image.ErrFormat) {
		return cfg, "", fmt.Errorf("%s: not a JPEG or PNG image; convert it to one of these", name)
	}
	if err != nil {
		return cfg, "", fmt.Errorf("%s: unreadable image header (corrupt or truncated file): %w",
			name, err)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 {
		return cfg, "", fmt.Errorf("%s: image header claims %dx%d pixels; the file is corrupt",
			name, cfg.Width, cfg.Height)
	}
	if int64(cfg.Width)*int64(cfg.Height) > int64(maxPixels) {
		return cfg, "", fmt.Errorf("%s: image is %dx%d (%.1f megapixels), over the limit of %.0f "+
			"megapixels; downscale it before loading", name, cfg.Width, cfg.Height,
			float64(cfg.Width)*float64(cfg.Height)/1e6, float64(maxPixels)/1e6)
	}
	return cfg, format, nil
}

// decode checks the header of the image in r against maxPixels, then decodes
// it. A panic inside a decoder becomes an error, so no file can crash a load.
func decode(r io.ReadSeeker, name string, maxPixels int) (img image.Image, err error) {
	_, format, err := decodeConfig(bufio.NewReader(r), name, maxPixels)
	if err != nil {
		return nil, err
	}

	// The header check consumed the start of the stream: decode from the top.
	if _, err := r.Seek(0, io.SeekStart); err != nil {
		return nil, fmt.Errorf("%s: cannot rewind after reading the header: %w", name, err)
	}
	defer func() {
		if p := recover(); p != nil {
			img, err = nil, fmt.Errorf("%s: %s decoder failed on this file: %v", name, format, p)
		}
	}()
	img, _, err = image.Decode(bufio.NewReader(r))
	if err != nil {
		return nil, fmt.Errorf("%s: corrupt or truncated %s image: %w", name, format, err)
	}
	return img, nil
}

// LoadImageFile decodes the image at path and returns it as size x size gray
// values in [0,1] (see [PreprocessImage]), with its original dimensions.
func LoadImageFile(path string, size int) (gray []float32, origW, origH int, err error) {
	img, err := DecodeFile(path)
	if err != nil {
		return nil, 0, 0, err
	}
	b := img.Bounds()
	return PreprocessImage(img, size), b.Dx(), b.Dy(), nil
}

// Luma weights of ITU-R BT.601, the same that JPEG uses for its Y channel, so
// a JPEG's luma can be read without converting colours.
const (
	lumaR = 0.299
	lumaG = 0.587
	lumaB = 0.114
)

// rowReader writes the luma of row y (counted from the top of the image) into
// dst, one value in [0,1] per column.
type rowReader func(y int, dst []float32)

// lumaRows returns a rowReader for img. The common decoder outputs are read
// straight from their pixel buffers; other types go through color.Color.
// Transparent pixels count as composited over black.
func lumaRows(img image.Image) rowReader {
	r := img.Bounds()
	switch p := img.(type) {
	case *image.YCbCr:
		return func(y int, dst []float32) {
			row := p.Y[p.YOffset(r.Min.X, r.Min.Y+y):]
			for x := range dst {
				dst[x] = float32(row[x]) / 255
			}
		}
	case *image.Gray:
		return func(y int, dst []float32) {
			row := p.Pix[p.PixOffset(r.Min.X, r.Min.Y+y):]
			for x := range dst {
				dst[x] = float32(row[x]) / 255
			}
		}
	case *image.Gray16:
		return func(y int, dst []float32) {
			row := p.Pix[p.PixOffset(r.Min.X, r.Min.Y+y):]
			for x := range dst {
				dst[x] = float32(uint16(row[2*x])<<8|uint16(row[2*x+1])) / 65535
			}
		}
	case *image.RGBA:
		return func(y int, dst []float32) {
			row := p.Pix[p.PixOffset(r.Min.X, r.Min.Y+y):]
			for x := range dst {
				dst[x] = luma8(row[4*x], row[4*x+1], row[4*x+2])
			}
		}
	case *image.NRGBA:
		return func(y int, dst []float32) {
			row := p.Pix[p.PixOffset(r.Min.X, r.Min.Y+y):]
			for x := range dst {
				a := float32(row[4*x+3]) / 255
				dst[x] = a * luma8(row[4*x], row[4*x+1], row[4*x+2])
			}
		}
	case *image.Paletted:
		lut := make([]float32, 256)
		for i, c := range p.Palette {
			lut[i] = lumaOf(c)
		}
		return func(y int, dst []float32) {
			row := p.Pix[p.PixOffset(r.Min.X, r.Min.Y+y):]
			for x := range dst {
				dst[x] = lut[row[x]]
			}
		}
	case *image.CMYK:
		return func(y int, dst []float32) {
			row := p.Pix[p.PixOffset(r.Min.X, r.Min.Y+y):]
			for x := range dst {
				cr, cg, cb := color.CMYKToRGB(row[4*x], row[4*x+1], row[4*x+2], row[4*x+3])
				dst[x] = luma8(cr, cg, cb)
			}
		}
	}
	return func(y int, dst []float32) {
		for x := range dst {
			dst[x] = lumaOf(img.At(r.Min.X+x, r.Min.Y+y))
		}
	}
}

// luma8 is the luma of an 8-bit RGB colour, in [0,1].
func luma8(r, g, b uint8) float32 {
	return (lumaR*float32(r) + lumaG*float32(g) + lumaB*float32(b)) / 255
}

// lumaOf is the luma of any colour, in [0,1]; nil (an index past the end of a
// palette) counts as black.
func lumaOf(c color.Color) float32 {
	if c == nil {
		return 0
	}
	r, g, b, _ := c.RGBA()
	return (lumaR*float32(r) + lumaG*float32(g) + lumaB*float32(b)) / 65535
}

package plotting

import (
	"image/color"
	"math"
)

// viridisAnchors are evenly spaced samples of the viridis colour map, from
// dark purple (0) to yellow (1): perceptually uniform and readable in gray.
var viridisAnchors = []color.RGBA{
	{R: 68, G: 1, B: 84, A: 255},
	{R: 72, G: 40, B: 120, A: 255},
	{R: 62, G: 74, B: 137, A: 255},
	{R: 49, G: 104, B: 142, A: 255},
	{R: 38, G: 130, B: 142, A: 255},
	{R: 31, G: 158, B: 137, A: 255},
	{R: 53, G: 183, B: 121, A: 255},
	{R: 110, G: 206, B: 88, A: 255},
	{R: 181, G: 222, B: 43, A: 255},
	{R: 253, G: 231, B: 37, A: 255},
}

// Viridis maps t in [0,1] (clamped; NaN as 0) to the viridis colour map.
func Viridis(t float64) color.RGBA {
	if math.IsNaN(t) || t <= 0 {
		return viridisAnchors[0]
	}
	if t >= 1 {
		return viridisAnchors[len(viridisAnchors)-1]
	}
	pos := t * float64(len(viridisAnchors)-1)
	i := int(pos)
	f := pos - float64(i)
	a, b := viridisAnchors[i], viridisAnchors[i+1]
	mix := func(x, y uint8) uint8 { return uint8(float64(x)*(1-f) + float64(y)*f + 0.5) }
	return color.RGBA{R: mix(a.R, b.R), G: mix(a.G, b.G), B: mix(a.B, b.B), A: 255}
}

// blend mixes c over base with opacity alpha in [0,1].
func blend(base, c color.RGBA, alpha float64) color.RGBA {
	mix := func(x, y uint8) uint8 { return uint8(float64(x)*(1-alpha) + float64(y)*alpha + 0.5) }
	return color.RGBA{R: mix(base.R, c.R), G: mix(base.G, c.G), B: mix(base.B, c.B), A: 255}
}

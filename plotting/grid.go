package plotting

import (
	"image"
)

// MaskOutlineGrid draws each gray image (size x size, row-major, values in
// [0,1]) with the outline of its mask in [TruthColor], in a grid of cols
// columns. When labels is not empty, labels[i] is written under tile i.
//
// masks may be nil, or hold nil entries, for images without a mask; labels
// may be shorter than images. It panics when an image or mask does not hold
// size*size values.
func MaskOutlineGrid(images, masks [][]float32, size, cols int, labels []string) image.Image {
	n := len(images)
	cols = max(1, min(cols, n))
	rows := max(1, (n+cols-1)/cols)

	// Labels get their own strip under each tile so they never hide the lesion.
	labelH := 0
	if len(labels) > 0 {
		labelH = labelHeight
	}
	tileW, tileH := size+gap, size+labelH+gap
	canvas := newCanvas(gap+cols*tileW, gap+rows*tileH)

	for i, img := range images {
		checkLen("images", i, img, size)
		x0, y0 := gap+(i%cols)*tileW, gap+(i/cols)*tileH
		drawGray(canvas, x0, y0, img, size, 1)
		if i < len(masks) && masks[i] != nil {
			checkLen("masks", i, masks[i], size)
			drawOutline(canvas, x0, y0, masks[i], size, 1, TruthColor)
		}
		if i < len(labels) {
			drawText(canvas, x0, y0+size, size, labels[i], TextColor)
		}
	}
	return canvas
}

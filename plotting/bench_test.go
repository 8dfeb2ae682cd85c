package plotting

import "testing"

// BenchmarkCurves measures one redraw of the training curves, which a
// LivePlot pays at most once per MinInterval.
func BenchmarkCurves(b *testing.B) {
	rows := manyRows(1000)
	for b.Loop() {
		if _, err := Curves(rows); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkGallery measures a gallery of 8 samples at 128x128.
func BenchmarkGallery(b *testing.B) {
	rows := make([]GalleryRow, 8)
	for i := range rows {
		rows[i] = galleryRow("x", 128)
	}
	for b.Loop() {
		Gallery(rows, 1)
	}
}

// BenchmarkGrowthGIF measures encoding the growth of a short run.
func BenchmarkGrowthGIF(b *testing.B) {
	frames := growthFrames()
	for b.Loop() {
		if _, err := GrowthGIFBytes(frames, 2, 10); err != nil {
			b.Fatal(err)
		}
	}
}

package nca

import "github.com/mednca/mednca/isic"

// OtsuMask segments a grayscale image (values in [0,1]) the classical way:
// pixels darker than the Otsu threshold, which best separates the image's
// histogram into two classes, are lesion. It is the baseline a trained
// model must beat.
func OtsuMask(image []float32) []float32 {
	const bins = 256
	var hist [bins]float64
	for _, v := range image {
		hist[min(max(int(v*(bins-1)+0.5), 0), bins-1)]++
	}
	total := float64(len(image))
	var sumAll float64
	for i, h := range hist {
		sumAll += float64(i) * h
	}

	// Maximise the between-class variance over all thresholds.
	var weightLow, sumLow, bestVariance float64
	best := 0
	for t := range bins {
		weightLow += hist[t]
		if weightLow == 0 {
			continue
		}
		weightHigh := total - weightLow
		if weightHigh == 0 {
			break
		}
		sumLow += float64(t) * hist[t]
		meanLow := sumLow / weightLow
		meanHigh := (sumAll - sumLow) / weightHigh
		variance := weightLow * weightHigh * (meanLow - meanHigh) * (meanLow - meanHigh)
		if variance > bestVariance {
			bestVariance, best = variance, t
		}
	}

	mask := make([]float32, len(image))
	threshold := (float32(best) + 0.5) / (bins - 1)
	for i, v := range image {
		if v <= threshold {
			mask[i] = 1
		}
	}
	return mask
}

// OtsuBaseline scores [OtsuMask] on every image of d.
func OtsuBaseline(d *isic.Dataset) Summary {
	scores := make([]Scores, d.Len())
	for i := range scores {
		scores[i] = ScoreMask(OtsuMask(d.Image(i)), d.Mask(i))
	}
	return Summarize(scores)
}

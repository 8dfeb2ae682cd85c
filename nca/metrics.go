package nca

import "math"

// ISICThreshold is the IoU below which the ISIC 2018 Task 1 score counts
// an image as a failure (0).
const ISICThreshold = 0.65

// Scores are the segmentation metrics of one image at threshold 0.5.
type Scores struct {
	Dice, IoU float64
}

// ScoreMask compares probabilities with a binary mask of the same layout.
// An image with no lesion in either the truth or the prediction scores 1.
func ScoreMask(probs, mask []float32) Scores {
	var inter, pred, truth float64
	for i, p := range probs {
		predicted := p >= 0.5
		lesion := mask[i] >= 0.5
		if predicted {
			pred++
		}
		if lesion {
			truth++
		}
		if predicted && lesion {
			inter++
		}
	}
	if pred+truth == 0 {
		return Scores{Dice: 1, IoU: 1}
	}
	return Scores{
		Dice: 2 * inter / (pred + truth),
		IoU:  inter / (pred + truth - inter),
	}
}

// Summary aggregates per-image scores.
type Summary struct {
	N       int
	Dice    float64 // mean Dice
	IoU     float64 // mean IoU (Jaccard)
	ISIC    float64 // mean of IoU, with IoU below ISICThreshold counted as 0
	DiceStd float64
	Loss    float64 // mean loss, when computed
	Quality float64 // mean ensemble quality score (sum std / sum mean), when computed
}

// Summarize averages per-image scores.
func Summarize(scores []Scores) Summary {
	s := Summary{N: len(scores)}
	if s.N == 0 {
		return s
	}
	for _, sc := range scores {
		s.Dice += sc.Dice
		s.IoU += sc.IoU
		if sc.IoU >= ISICThreshold {
			s.ISIC += sc.IoU
		}
	}
	n := float64(s.N)
	s.Dice /= n
	s.IoU /= n
	s.ISIC /= n
	for _, sc := range scores {
		s.DiceStd += (sc.Dice - s.Dice) * (sc.Dice - s.Dice)
	}
	s.DiceStd = math.Sqrt(s.DiceStd / n)
	return s
}

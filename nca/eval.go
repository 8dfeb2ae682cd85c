package nca

import (
	"fmt"
	"math"
	"sort"

	"github.com/mednca/mednca/isic"
	"github.com/mednca/mednca/plotting"
)

// EvalOptions configures [Evaluate].
type EvalOptions struct {
	// Ensemble, when above 1, scores the mean of this many stochastic runs
	// per image and adds the uncertainty maps.
	Ensemble int
	// Progress, if set, is called after each batch with the images done.
	Progress func(done, total int)
}

// Evaluation holds the per-image results of a dataset.
type Evaluation struct {
	Summary Summary
	IDs     []string
	Scores  []Scores
	Losses  []float64   // Dice+Focal loss per image, from the probabilities
	Probs   [][]float32 // per image, size*size
	Std     [][]float32 // per image with an ensemble, else nil
	Quality []float64   // ensemble quality score per image, else nil
}

// Evaluate segments every image of d and scores it against its mask.
func Evaluate(m *Model, d *isic.Dataset, opts EvalOptions) (*Evaluation, error) {
	if d.Size != m.Config.ImageSize {
		return nil, fmt.Errorf("dataset %s has %dx%d images, the model expects %dx%d; load it with size=%d",
			d.Source, d.Size, d.Size, m.Config.ImageSize, m.Config.ImageSize, m.Config.ImageSize)
	}
	n := d.Len()
	pixels := d.Size * d.Size
	e := &Evaluation{IDs: d.IDs, Scores: make([]Scores, n), Losses: make([]float64, n),
		Probs: make([][]float32, n)}
	if opts.Ensemble > 1 {
		e.Std = make([][]float32, n)
		e.Quality = make([]float64, n)
	}

	batch := max(m.Config.BatchSize, 1)
	for start := 0; start < n; start += batch {
		end := min(start+batch, n)
		if opts.Ensemble > 1 {
			for i := start; i < end; i++ {
				r, err := m.Ensemble(d.Image(i), opts.Ensemble)
				if err != nil {
					return nil, err
				}
				e.Probs[i], e.Std[i], e.Quality[i] = r.Mean, r.Std, r.Quality
			}
		} else {
			probs, err := m.Predict(d.Images[start*pixels:end*pixels], end-start)
			if err != nil {
				return nil, err
			}
			for i := start; i < end; i++ {
				e.Probs[i] = probs[(i-start)*pixels : (i-start+1)*pixels]
			}
		}
		for i := start; i < end; i++ {
			e.Scores[i] = ScoreMask(e.Probs[i], d.Mask(i))
			e.Losses[i] = hostLoss(m.Config, e.Probs[i], d.Mask(i))
		}
		if opts.Progress != nil {
			opts.Progress(end, n)
		}
	}

	e.Summary = Summarize(e.Scores)
	for i := range n {
		e.Summary.Loss += e.Losses[i] / float64(n)
		if e.Quality != nil {
			e.Summary.Quality += e.Quality[i] / float64(n)
		}
	}
	return e, nil
}

// hostLoss is the Dice+Focal loss of one image computed from probabilities,
// for validation, where the graph returns probabilities only.
func hostLoss(cfg Config, probs, mask []float32) float64 {
	const eps = 1e-7
	var inter, sumP, sumY, focal float64
	for i, pf := range probs {
		p := math.Min(math.Max(float64(pf), eps), 1-eps)
		y := float64(mask[i])
		inter += p * y
		sumP += p
		sumY += y
		pt := p*y + (1-p)*(1-y)
		alpha := cfg.FocalAlpha*y + (1-cfg.FocalAlpha)*(1-y)
		focal += alpha * math.Pow(1-pt, cfg.FocalGamma) * -math.Log(pt)
	}
	dice := 1 - (2*inter+1)/(sumP+sumY+1)
	return cfg.DiceWeight*dice + cfg.FocalWeight*focal/float64(len(probs))
}

// GalleryRows picks up to n images of an evaluation for a gallery: evenly
// spread over the dataset, so the same images appear after every epoch.
func GalleryRows(d *isic.Dataset, e *Evaluation, n int) []plotting.GalleryRow {
	n = min(n, d.Len())
	rows := make([]plotting.GalleryRow, 0, n)
	for k := range n {
		rows = append(rows, galleryRow(d, e, k*d.Len()/n))
	}
	return rows
}

// WorstRows returns the n images with the lowest Dice, worst first.
func WorstRows(d *isic.Dataset, e *Evaluation, n int) []plotting.GalleryRow {
	order := make([]int, d.Len())
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return e.Scores[order[a]].Dice < e.Scores[order[b]].Dice })
	rows := make([]plotting.GalleryRow, 0, n)
	for _, i := range order[:min(n, len(order))] {
		rows = append(rows, galleryRow(d, e, i))
	}
	return rows
}

func galleryRow(d *isic.Dataset, e *Evaluation, i int) plotting.GalleryRow {
	row := plotting.GalleryRow{ID: d.IDs[i], Size: d.Size, Image: d.Image(i), Truth: d.Mask(i),
		Prob: e.Probs[i], Dice: e.Scores[i].Dice}
	if e.Std != nil {
		row.Std = e.Std[i]
	}
	return row
}

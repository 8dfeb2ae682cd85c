package nca

import (
	. "github.com/gomlx/gomlx/core/graph"
)

// LossTerms are the parts of the training loss, each a scalar node.
type LossTerms struct {
	Total, Dice, Focal *Node
}

// Loss returns the weighted sum of the soft Dice loss and the focal loss of
// lesion logits [B,H,W] against binary masks [B,H,W].
//
// The Dice loss is computed per sample with smoothing 1 and averaged over
// the batch, so small lesions count as much as large ones. The focal loss
// weighs lesion pixels by alpha and background pixels by 1-alpha, and
// scales each pixel's cross-entropy by (1-pt)^gamma, where pt is the
// probability given to the true class.
func Loss(cfg Config, logits, masks *Node) LossTerms {
	probs := Sigmoid(logits)
	dice := SoftDiceLoss(probs, masks)
	focal := FocalLoss(logits, probs, masks, cfg.FocalAlpha, cfg.FocalGamma)
	total := Add(MulScalar(dice, cfg.DiceWeight), MulScalar(focal, cfg.FocalWeight))
	return LossTerms{Total: total, Dice: dice, Focal: focal}
}

// SoftDiceLoss is 1 - (2|P∩Y|+1)/(|P|+|Y|+1) per sample on probabilities,
// averaged over the batch.
func SoftDiceLoss(probs, masks *Node) *Node {
	axes := []int{1, 2}
	intersection := ReduceSum(Mul(probs, masks), axes...)
	sums := Add(ReduceSum(probs, axes...), ReduceSum(masks, axes...))
	score := Div(AddScalar(MulScalar(intersection, 2), 1), AddScalar(sums, 1))
	return ReduceAllMean(OneMinus(score))
}

// FocalLoss is the mean over pixels of alpha_t * (1-pt)^gamma * BCE.
func FocalLoss(logits, probs, masks *Node, alpha, gamma float64) *Node {
	bce := BinaryCrossEntropyWithLogits(logits, masks)
	pt := Add(Mul(probs, masks), Mul(OneMinus(probs), OneMinus(masks)))
	alphaT := AddScalar(MulScalar(masks, 2*alpha-1), 1-alpha)
	modulation := Pow(OneMinus(pt), Scalar(logits.Graph(), logits.DType(), gamma))
	if gamma == 2 {
		modulation = Square(OneMinus(pt))
	}
	return ReduceAllMean(Mul(alphaT, Mul(modulation, bce)))
}

// BinaryCrossEntropyWithLogits is the per-pixel cross-entropy of
// sigmoid(logits) against targets, in the overflow-free form
// max(x,0) - x*y + log(1+exp(-|x|)).
func BinaryCrossEntropyWithLogits(logits, targets *Node) *Node {
	relu := MaxScalar(logits, 0)
	return Add(Sub(relu, Mul(logits, targets)), Log1p(Exp(Neg(Abs(logits)))))
}

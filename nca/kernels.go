package nca

import (
	"fmt"
	"slices"
	"time"

	"github.com/gomlx/compute"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
)

// KernelRates are matrix-product throughputs of a backend, in GFLOP/s
// (10^9 multiply-adds counted as two operations each), against which a
// training step's time can be read.
type KernelRates struct {
	// MatMulPeak is a float32 product of two PeakSize x PeakSize
	// matrices: about the most the backend gets out of the machine.
	MatMulPeak float64
	PeakSize   int

	// UpdateRule is the update rule of one level-2 training step, forward
	// and backward, as training runs it: the arithmetic of its six matrix
	// products over the time of the whole computation, ReLU, bias and
	// gradient sums included. On backends that run it on the firing cells
	// alone (see firing) it is timed on as many cells as a step gathers,
	// UpdateRuleCells, as rows; the gathering is not part of it.
	UpdateRule      float64
	UpdateRuleCells int
}

// MeasureKernels times the matrix products of KernelRates on backend, for
// the sizes of cfg, and returns the median rate of reps runs each, after
// one untimed run that compiles.
func MeasureKernels(backend compute.Backend, cfg Config, reps int) (KernelRates, error) {
	const peakSize = 2048
	rates := KernelRates{PeakSize: peakSize}
	square := filledTensor(peakSize*peakSize, peakSize, peakSize)
	product, err := NewExec(backend, func(a, b *Node) *Node { return Dot(a, b).Product() })
	if err != nil {
		return rates, err
	}
	defer product.Finalize()
	seconds, err := medianCallTime(product, reps, square, square)
	if err != nil {
		return rates, fmt.Errorf("timing a %dx%d matrix product: %w", peakSize, peakSize, err)
	}
	rates.MatMulPeak = 2 * peakSize * peakSize * peakSize / seconds / 1e9

	c, hidden := cfg.Channels, cfg.Hidden
	side := cfg.PatchSize
	if !cfg.usesPatches() {
		side = cfg.ImageSize
	}
	cells := cfg.BatchSize * side * side
	asRows := gathersFiringCells(backend, cfg.FireRate)
	if asRows {
		cells = firingCapacity(cells, cfg.FireRate)
	}
	rates.UpdateRuleCells = cells
	rule, err := NewExec(backend, func(in []*Node) []*Node {
		perception, dDelta, denseIn, inBias, denseOut := in[0], in[1], in[2], in[3], in[4]
		lm := updateRuleMatrices(denseIn, inBias, denseOut)
		var grads levelGradients
		if asRows {
			hiddenOut, delta := lm.updateRuleRows(perception)
			dPerception := lm.updateRuleRowsBackward(perception, hiddenOut, dDelta, &grads)
			return []*Node{delta, dPerception, grads.denseInTB, grads.denseOut}
		}
		hiddenOut, delta := lm.updateRule(perception)
		dState, dFiltered := lm.updateRuleBackward(perception, hiddenOut, dDelta, &grads)
		return []*Node{delta, dState, dFiltered, grads.denseInTB, grads.denseOut}
	})
	if err != nil {
		return rates, err
	}
	defer rule.Finalize()
	perception, dDelta := filledTensor((3*c+1)*cells, 3*c+1, cells), filledTensor(c*cells, c, cells)
	if asRows {
		perception, dDelta = filledTensor((3*c+1)*cells, cells, 3*c+1), filledTensor(c*cells, cells, c)
	}
	seconds, err = medianCallTime(rule, reps, perception, dDelta,
		filledTensor(3*c*hidden, 3*c, hidden), filledTensor(hidden, hidden), filledTensor(hidden*c, hidden, c))
	if err != nil {
		return rates, fmt.Errorf("timing the update rule on %d cells: %w", cells, err)
	}
	// Forward [3C,H] and [H,C] products; backward two products per layer.
	rates.UpdateRule = 3 * 2 * float64(cells) * float64(3*c*hidden+hidden*c) / seconds / 1e9
	return rates, nil
}

// filledTensor is a float32 tensor of the given shape holding small
// repeating values.
func filledTensor(size int, dims ...int) *tensors.Tensor {
	data := make([]float32, size)
	for i := range data {
		data[i] = float32(i%17)/17 - 0.5
	}
	return tensors.FromFlatDataAndDimensions(data, dims...)
}

// medianCallTime returns the median wall time of reps calls of exec with
// inputs, after one untimed call that compiles.
func medianCallTime(exec *Exec, reps int, inputs ...*tensors.Tensor) (float64, error) {
	args := make([]any, len(inputs))
	for i, t := range inputs {
		args[i] = t
	}
	times := make([]float64, 0, reps)
	for i := range reps + 1 {
		start := time.Now()
		out, err := exec.Call(args...)
		if err != nil {
			return 0, err
		}
		for _, t := range out {
			if err := t.FinalizeAll(); err != nil {
				return 0, err
			}
		}
		if i > 0 {
			times = append(times, time.Since(start).Seconds())
		}
	}
	slices.Sort(times)
	return times[len(times)/2], nil
}

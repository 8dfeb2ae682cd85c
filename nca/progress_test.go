package nca

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestProgressPlainLinesWhenNotATerminal(t *testing.T) {
	var out bytes.Buffer
	p := newProgressBar(&out, 3, 4)
	p.startEpoch(1)
	for range 4 {
		p.step(0.5)
	}
	p.endEpoch(EpochReport{Epoch: 1, TrainLoss: 0.5, Validation: Summary{N: 2, Dice: 0.75, IoU: 0.6, Loss: 0.4},
		LearningRate: 1e-3, Elapsed: 3 * time.Second, Best: true})
	p.finish()

	text := out.String()
	assert.NotContains(t, text, "\r", "no carriage returns outside a terminal")
	assert.NotContains(t, text, "\x1b[", "no escape codes outside a terminal")
	assert.Contains(t, text, "epoch 1/3: train loss 0.5000, val loss 0.4000, Dice 0.7500, IoU 0.6000")
	assert.Contains(t, text, "(best)")
}

func TestProgressLineShowsRateLossAndETA(t *testing.T) {
	p := newProgressBar(&bytes.Buffer{}, 2, 10)
	p.startEpoch(1)
	p.epochStart = time.Now().Add(-5 * time.Second)
	for range 5 {
		p.step(0.25)
	}
	line := p.line()
	assert.True(t, strings.HasPrefix(line, "epoch 1/2 [##########----------] 5/10 "), line)
	assert.Contains(t, line, "loss 0.2500")
	// 15 steps remain at about one step per second.
	assert.Contains(t, line, "ETA 15s")
}

func TestOutOfMemoryNamesTheSizesToLower(t *testing.T) {
	cfg := DefaultConfig()
	r := &run{cfg: cfg, lastCkpt: "output/run/checkpoints/ckpt-000000100.bin"}
	err := r.stepError(errors.New("RESOURCE_EXHAUSTED: Out of memory while trying to allocate 4.00GiB"))
	msg := err.Error()
	for _, want := range []string{"out of memory", "batch=8", "patch=64", "batch=4", "patch=32",
		"ckpt-000000100.bin is intact"} {
		assert.Contains(t, msg, want)
	}

	// Other failures are reported as they are.
	err = r.stepError(errors.New("shape mismatch"))
	assert.NotContains(t, err.Error(), "out of memory")
}

package nca

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"golang.org/x/term"
)

// progressBar shows training progress: a bar redrawn in place on a
// terminal (steps/s, loss, ETA), plain lines every few seconds otherwise,
// and one summary line per epoch in both cases.
type progressBar struct {
	w                io.Writer
	terminal         bool
	epochs, perEpoch int

	epoch, done int
	loss        float64 // running mean of the epoch's loss
	epochStart  time.Time
	lastPrint   time.Time
	drawn       bool
}

// plainInterval is how often a non-terminal gets a progress line.
const plainInterval = 15 * time.Second

func newProgressBar(w io.Writer, epochs, perEpoch int) *progressBar {
	p := &progressBar{w: w, epochs: epochs, perEpoch: perEpoch}
	if f, ok := w.(*os.File); ok {
		p.terminal = term.IsTerminal(int(f.Fd()))
	}
	return p
}

func (p *progressBar) startEpoch(epoch int) {
	p.epoch, p.done, p.loss = epoch, 0, 0
	p.epochStart = time.Now()
	p.lastPrint = p.epochStart
}

func (p *progressBar) step(loss float64) {
	p.done++
	p.loss += (loss - p.loss) / float64(p.done)
	now := time.Now()
	if p.terminal {
		if now.Sub(p.lastPrint) < 100*time.Millisecond && p.done < p.perEpoch {
			return
		}
		p.lastPrint = now
		fmt.Fprintf(p.w, "\r%s\x1b[K", p.line())
		p.drawn = true
		return
	}
	if now.Sub(p.lastPrint) >= plainInterval {
		p.lastPrint = now
		fmt.Fprintln(p.w, p.line())
	}
}

// line renders "epoch 3/12 [#####-----] 45/60 2.3 steps/s loss 0.213 ETA 1m20s".
func (p *progressBar) line() string {
	const width = 20
	filled := width * p.done / max(p.perEpoch, 1)
	elapsed := time.Since(p.epochStart).Seconds()
	rate := float64(p.done) / max(elapsed, 1e-9)
	remaining := (p.epochs-p.epoch+1)*p.perEpoch - p.done
	eta := time.Duration(float64(remaining)/max(rate, 1e-9)) * time.Second
	return fmt.Sprintf("epoch %d/%d [%s%s] %d/%d %.2f steps/s loss %.4f ETA %s", p.epoch, p.epochs,
		strings.Repeat("#", filled), strings.Repeat("-", width-filled), p.done, p.perEpoch, rate, p.loss,
		eta.Round(time.Second))
}

// message prints a line without breaking the bar.
func (p *progressBar) message(s string) {
	p.clear()
	fmt.Fprintln(p.w, s)
}

func (p *progressBar) endEpoch(r EpochReport) {
	p.clear()
	line := fmt.Sprintf("epoch %d/%d: train loss %.4f", r.Epoch, p.epochs, r.TrainLoss)
	if r.Validation.N > 0 {
		line += fmt.Sprintf(", val loss %.4f, Dice %.4f, IoU %.4f", r.Validation.Loss, r.Validation.Dice,
			r.Validation.IoU)
	}
	line += fmt.Sprintf(", lr %.3g, %s", r.LearningRate, r.Elapsed.Round(time.Second))
	if r.Best {
		line += " (best)"
	}
	fmt.Fprintln(p.w, line)
}

func (p *progressBar) clear() {
	if p.terminal && p.drawn {
		fmt.Fprint(p.w, "\r\x1b[K")
		p.drawn = false
	}
}

func (p *progressBar) finish() { p.clear() }

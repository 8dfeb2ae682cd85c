package nca

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// metricsHeader is the first line of a run's metrics.csv.
const metricsHeader = "step,epoch,train_loss,val_loss,val_dice,val_iou,lr,elapsed_s"

// appendMetrics adds one epoch's row to metrics.csv, creating it with its
// header if needed.
func appendMetrics(path string, r EpochReport) error {
	_, statErr := os.Stat(path)
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("writing metrics: %w", err)
	}
	w := bufio.NewWriter(f)
	if errors.Is(statErr, os.ErrNotExist) {
		fmt.Fprintln(w, metricsHeader)
	}
	val := func(x float64) string {
		if r.Validation.N == 0 {
			return ""
		}
		return strconv.FormatFloat(x, 'g', 6, 64)
	}
	fmt.Fprintf(w, "%d,%d,%.6g,%s,%s,%s,%.6g,%.1f\n", r.Step, r.Epoch, r.TrainLoss, val(r.Validation.Loss),
		val(r.Validation.Dice), val(r.Validation.IoU), r.LearningRate, r.Elapsed.Seconds())
	if err := w.Flush(); err != nil {
		f.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return f.Close()
}

// truncateMetrics drops the rows of epochs after epoch, written by a run
// that was killed before their checkpoint, so a resumed run does not
// repeat them.
func truncateMetrics(path string, epoch int) error {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading %s: %w", path, err)
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	kept := []string{metricsHeader}
	for _, line := range lines[1:] {
		fields := strings.Split(line, ",")
		if len(fields) < 2 {
			continue
		}
		e, err := strconv.Atoi(fields[1])
		if err != nil || e > epoch {
			continue
		}
		kept = append(kept, line)
	}
	return writeFileAtomic(path, []byte(strings.Join(kept, "\n")+"\n"))
}

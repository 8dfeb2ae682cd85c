package plotting

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
)

// MetricsRow is one line of the metrics.csv file written during training.
// Values missing from the file (for example the validation columns on steps
// without validation) are NaN.
type MetricsRow struct {
	Step      int     // Global training step.
	Epoch     float64 // Epoch, possibly fractional.
	TrainLoss float64 // Training loss averaged since the previous row.
	ValLoss   float64 // Validation loss, NaN when not evaluated.
	ValDice   float64 // Validation Dice, NaN when not evaluated.
	ValIoU    float64 // Validation IoU (Jaccard), NaN when not evaluated.
	LR        float64 // Learning rate.
	ElapsedS  float64 // Seconds since training started.
}

// HasValidation tells whether the row holds any validation metric.
func (r MetricsRow) HasValidation() bool {
	return !math.IsNaN(r.ValLoss) || !math.IsNaN(r.ValDice) || !math.IsNaN(r.ValIoU)
}

// metricsColumns lists the float columns of metrics.csv and where each goes.
var metricsColumns = map[string]func(r *MetricsRow) *float64{
	"epoch":      func(r *MetricsRow) *float64 { return &r.Epoch },
	"train_loss": func(r *MetricsRow) *float64 { return &r.TrainLoss },
	"val_loss":   func(r *MetricsRow) *float64 { return &r.ValLoss },
	"val_dice":   func(r *MetricsRow) *float64 { return &r.ValDice },
	"val_iou":    func(r *MetricsRow) *float64 { return &r.ValIoU },
	"lr":         func(r *MetricsRow) *float64 { return &r.LR },
	"elapsed_s":  func(r *MetricsRow) *float64 { return &r.ElapsedS },
}

// ReadMetricsCSV reads a metrics.csv file whose header names the columns
// step,epoch,train_loss,val_loss,val_dice,val_iou,lr,elapsed_s (in any order;
// "step" is required, unknown columns are ignored, missing ones read as NaN).
// Empty cells read as NaN. Errors name the file and line.
func ReadMetricsCSV(path string) ([]MetricsRow, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("reading metrics: %w", err)
	}
	defer f.Close()
	rows, err := ParseMetricsCSV(f)
	if err != nil {
		return nil, fmt.Errorf("metrics file %q: %w", path, err)
	}
	return rows, nil
}

// ParseMetricsCSV parses metrics.csv content from r; see [ReadMetricsCSV].
func ParseMetricsCSV(r io.Reader) ([]MetricsRow, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1 // Checked below, with a clearer message.
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, errors.New("empty file: expected a header line starting with \"step\"")
	}
	if err != nil {
		return nil, err
	}

	// Map column positions to fields once, so each line is a simple loop.
	stepCol := -1
	setters := make([]func(r *MetricsRow) *float64, len(header))
	for i, name := range header {
		name = strings.TrimSpace(name)
		if name == "step" {
			stepCol = i
		}
		setters[i] = metricsColumns[name]
	}
	if stepCol < 0 {
		return nil, fmt.Errorf("line 1: header %q has no \"step\" column; is this a metrics.csv file?",
			strings.Join(header, ","))
	}

	var rows []MetricsRow
	for {
		record, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return rows, nil
		}
		if err != nil {
			return nil, err
		}
		line, _ := cr.FieldPos(0)
		row, err := parseMetricsRecord(record, header, stepCol, setters)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		rows = append(rows, row)
	}
}

// parseMetricsRecord converts one CSV record into a MetricsRow.
func parseMetricsRecord(record, header []string, stepCol int,
	setters []func(r *MetricsRow) *float64) (MetricsRow, error) {
	if len(record) != len(header) {
		return MetricsRow{}, fmt.Errorf("%d fields, expected %d as in the header", len(record), len(header))
	}
	row := MetricsRow{
		Epoch: math.NaN(), TrainLoss: math.NaN(), ValLoss: math.NaN(), ValDice: math.NaN(),
		ValIoU: math.NaN(), LR: math.NaN(), ElapsedS: math.NaN(),
	}
	step, err := strconv.Atoi(strings.TrimSpace(record[stepCol]))
	if err != nil {
		return MetricsRow{}, fmt.Errorf("column \"step\": %q is not an integer", record[stepCol])
	}
	row.Step = step
	for i, cell := range record {
		cell = strings.TrimSpace(cell)
		if setters[i] == nil || cell == "" {
			continue
		}
		v, err := strconv.ParseFloat(cell, 64)
		if err != nil {
			return MetricsRow{}, fmt.Errorf("column %q: %q is not a number", header[i], cell)
		}
		*setters[i](&row) = v
	}
	return row, nil
}

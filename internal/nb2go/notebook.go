package nb2go

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
)

// Cell is one notebook cell: its position (from 1), kind ("code",
// "markdown", "raw") and source text.
type Cell struct {
	Index  int
	Kind   string
	Source string
}

// ipynb is the part of the Jupyter notebook format (version 4) used here.
type ipynb struct {
	NBFormat int `json:"nbformat"`
	Cells    []struct {
		CellType string          `json:"cell_type"`
		Source   json.RawMessage `json:"source"`
	} `json:"cells"`
}

// ReadNotebook reads the cells of a Jupyter notebook file.
func ReadNotebook(path string) ([]Cell, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading notebook: %w", err)
	}
	cells, err := ParseNotebook(data)
	if err != nil {
		return nil, fmt.Errorf("notebook %q: %w", path, err)
	}
	return cells, nil
}

// ParseNotebook parses the JSON of a Jupyter notebook (nbformat 4).
func ParseNotebook(data []byte) ([]Cell, error) {
	var nb ipynb
	if err := json.Unmarshal(data, &nb); err != nil {
		return nil, fmt.Errorf("not a Jupyter notebook (invalid JSON): %w", err)
	}
	if nb.NBFormat != 4 {
		return nil, fmt.Errorf("nbformat %d, expected 4; re-save the notebook with a current Jupyter",
			nb.NBFormat)
	}
	cells := make([]Cell, len(nb.Cells))
	for i, c := range nb.Cells {
		src, err := sourceText(c.Source)
		if err != nil {
			return nil, fmt.Errorf("cell %d: %w", i+1, err)
		}
		cells[i] = Cell{Index: i + 1, Kind: c.CellType, Source: src}
	}
	return cells, nil
}

// sourceText decodes a cell source, stored either as one string or as a list
// of lines.
func sourceText(raw json.RawMessage) (string, error) {
	if len(raw) == 0 {
		return "", nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s, nil
	}
	var lines []string
	if err := json.Unmarshal(raw, &lines); err != nil {
		return "", fmt.Errorf("source is neither a string nor a list of strings")
	}
	return strings.Join(lines, ""), nil
}

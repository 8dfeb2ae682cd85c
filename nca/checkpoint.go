package nca

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/tensors"
)

// checkpointMagic opens every checkpoint file; the digit is the format
// version.
const checkpointMagic = "MEDNCA-CKPT-1\n"

// File names inside a training folder's checkpoints/ directory.
const (
	checkpointPrefix = "ckpt-"
	checkpointSuffix = ".bin"
	bestCheckpoint   = "best.bin"
)

// TrainState is the progress of a training run, saved with the weights so
// that a resumed run continues exactly where the checkpoint was taken.
type TrainState struct {
	Step         int     `json:"step"`          // optimiser steps done
	Epoch        int     `json:"epoch"`         // epochs completed
	LearningRate float64 `json:"learning_rate"` // current learning rate
	BestDice     float64 `json:"best_dice"`     // best validation Dice so far
	BestEpoch    int     `json:"best_epoch"`
	PlateauLoss  float64 `json:"plateau_loss"` // best validation loss of the plateau schedule (0: none yet)
	PlateauWait  int     `json:"plateau_wait"` // epochs since it improved
	ElapsedSec   float64 `json:"elapsed_sec"`  // training time so far
}

// checkpointHeader is the JSON part of a checkpoint file.
type checkpointHeader struct {
	Config    string             `json:"config"` // config.txt contents
	State     TrainState         `json:"state"`
	Variables []checkpointTensor `json:"variables"`
}

type checkpointTensor struct {
	Path   string `json:"path"`
	DType  string `json:"dtype"`
	Dims   []int  `json:"dims"`
	Offset int64  `json:"offset"`
	Length int64  `json:"length"`
}

// SaveCheckpoint writes the model's variables (weights, optimiser state and
// the random state of the fire masks), its config and state to path. The
// file is written beside path and renamed over it only once complete and
// synced, so a crash at any moment leaves either the old or the new file.
func (m *Model) SaveCheckpoint(path string, state TrainState) error {
	header := checkpointHeader{Config: m.Config.String(), State: state}
	var data bytes.Buffer
	var vars []string
	for v := range m.Store.IterVariables() {
		vars = append(vars, v.Path())
	}
	sort.Strings(vars)
	for _, p := range vars {
		value, err := m.Store.GetVariable(p).Value()
		if err != nil {
			return fmt.Errorf("checkpoint %s: reading variable %s: %w", path, p, err)
		}
		offset := int64(data.Len())
		if err := value.ConstBytes(func(raw []byte) { data.Write(raw) }); err != nil {
			return fmt.Errorf("checkpoint %s: reading variable %s: %w", path, p, err)
		}
		header.Variables = append(header.Variables, checkpointTensor{
			Path: p, DType: value.Shape().DType.String(), Dims: value.Shape().Dimensions,
			Offset: offset, Length: int64(data.Len()) - offset,
		})
	}
	headerJSON, err := json.Marshal(header)
	if err != nil {
		return err
	}

	var file bytes.Buffer
	file.WriteString(checkpointMagic)
	_ = binary.Write(&file, binary.LittleEndian, uint64(len(headerJSON)))
	file.Write(headerJSON)
	file.Write(data.Bytes())
	_ = binary.Write(&file, binary.LittleEndian, crc32.ChecksumIEEE(file.Bytes()))
	return writeFileAtomic(path, file.Bytes())
}

// writeFileAtomic writes data to a temporary file in path's directory,
// syncs it and renames it to path.
func writeFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("creating %s: %w", dir, err)
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	defer os.Remove(tmp.Name()) // no-op after a successful rename
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("syncing %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("renaming checkpoint into %s: %w", path, err)
	}
	return nil
}

// Checkpoint is a checkpoint file read from disk.
type Checkpoint struct {
	Path   string
	Config Config
	State  TrainState
	values map[string]*tensors.Tensor
}

// ReadCheckpoint reads and verifies a checkpoint file. A truncated or
// corrupt file is an error that names it.
func ReadCheckpoint(path string) (*Checkpoint, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading checkpoint: %w", err)
	}
	corrupt := func(why string) error {
		return fmt.Errorf("checkpoint %s is not a valid MedNCA checkpoint (%s); use another checkpoint "+
			"(the checkpoints/ folder keeps several) or retrain", path, why)
	}
	if !bytes.HasPrefix(raw, []byte(checkpointMagic)) {
		return nil, corrupt("wrong file header")
	}
	if len(raw) < len(checkpointMagic)+8+4 {
		return nil, corrupt("file too short")
	}
	body, sum := raw[:len(raw)-4], binary.LittleEndian.Uint32(raw[len(raw)-4:])
	if crc32.ChecksumIEEE(body) != sum {
		return nil, corrupt("checksum mismatch: truncated or damaged")
	}
	rest := body[len(checkpointMagic):]
	headerLen := binary.LittleEndian.Uint64(rest[:8])
	if headerLen > uint64(len(rest)-8) {
		return nil, corrupt("header length out of range")
	}
	var header checkpointHeader
	if err := json.Unmarshal(rest[8:8+headerLen], &header); err != nil {
		return nil, corrupt("bad header: " + err.Error())
	}
	data := rest[8+headerLen:]

	ckpt := &Checkpoint{Path: path, State: header.State, values: map[string]*tensors.Tensor{}}
	ckpt.Config, err = parseConfigText(header.Config)
	if err != nil {
		return nil, corrupt("bad config: " + err.Error())
	}
	for _, v := range header.Variables {
		dtype, err := dtypes.DTypeString(v.DType)
		if err != nil || v.Offset < 0 || v.Offset+v.Length > int64(len(data)) {
			return nil, corrupt("bad entry for variable " + v.Path)
		}
		t := tensors.FromShape(shapes.Make(dtype, v.Dims...))
		if int64(t.Shape().ByteSize()) != v.Length {
			return nil, corrupt("size mismatch for variable " + v.Path)
		}
		if err := t.MutableBytes(func(dst []byte) { copy(dst, data[v.Offset:v.Offset+v.Length]) }); err != nil {
			return nil, err
		}
		ckpt.values[v.Path] = t
	}
	return ckpt, nil
}

// parseConfigText parses config.txt contents on top of the defaults.
func parseConfigText(text string) (Config, error) {
	c := DefaultConfig()
	for i, line := range strings.Split(text, "\n") {
		line, _, _ = strings.Cut(line, "#")
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		key, value, ok := strings.Cut(line, "=")
		if !ok {
			return c, fmt.Errorf("line %d: expected \"key = value\", got %q", i+1, line)
		}
		if err := c.setOne(strings.TrimSpace(key), strings.TrimSpace(value)); err != nil {
			return c, fmt.Errorf("line %d: %w", i+1, err)
		}
	}
	return c, nil
}

// LoadModel rebuilds a model from a checkpoint: a checkpoint file, a
// checkpoints/ folder or a training folder (its best checkpoint if there is
// one, else its latest).
func LoadModel(backend compute.Backend, path string) (*Model, *Checkpoint, error) {
	file, err := ResolveCheckpoint(path)
	if err != nil {
		return nil, nil, err
	}
	ckpt, err := ReadCheckpoint(file)
	if err != nil {
		return nil, nil, err
	}
	m, err := NewModel(backend, ckpt.Config)
	if err != nil {
		return nil, nil, fmt.Errorf("checkpoint %s: %w", file, err)
	}
	if err := m.restore(ckpt); err != nil {
		return nil, nil, err
	}
	return m, ckpt, nil
}

// restore sets the model's variables to the checkpoint's values, creating
// the optimiser state if the checkpoint has it.
func (m *Model) restore(ckpt *Checkpoint) error {
	for path := range ckpt.values {
		if strings.HasPrefix(path, adamScope+"/") {
			if err := m.initOptimizer(); err != nil {
				return err
			}
			break
		}
	}
	for v := range m.Store.IterVariables() {
		value, ok := ckpt.values[v.Path()]
		if !ok {
			return fmt.Errorf("checkpoint %s has no variable %s: it was written by a different model", ckpt.Path,
				v.Path())
		}
		if !value.Shape().Equal(v.Shape()) {
			return fmt.Errorf("checkpoint %s: variable %s has shape %s, the model expects %s", ckpt.Path,
				v.Path(), value.Shape(), v.Shape())
		}
		clone, err := value.Clone()
		if err != nil {
			return err
		}
		if err := v.SetValue(clone); err != nil {
			return err
		}
	}
	return nil
}

// ResolveCheckpoint finds the checkpoint file that path designates: the
// file itself, or in a training folder or its checkpoints/ folder the best
// checkpoint, else the latest.
func ResolveCheckpoint(path string) (string, error) {
	info, err := os.Stat(path)
	if err != nil {
		return "", fmt.Errorf("checkpoint %s: %w; pass a training folder (output/training_*), its "+
			"checkpoints/ folder or a .bin file", path, errors.Unwrap(err))
	}
	if !info.IsDir() {
		return path, nil
	}
	dir := path
	if sub := filepath.Join(path, "checkpoints"); isDir(sub) {
		dir = sub
	}
	if best := filepath.Join(dir, bestCheckpoint); isRegularFile(best) {
		return best, nil
	}
	latest, err := latestCheckpoint(dir)
	if err != nil {
		return "", err
	}
	if latest == "" {
		if run, err := LatestRun(path); err == nil {
			return "", fmt.Errorf("no checkpoint in %s: it holds run folders; pass one of them, for example %s",
				path, run)
		}
		return "", fmt.Errorf("no checkpoint in %s: expected %s or %s*%s files from `mednca train`", dir,
			bestCheckpoint, checkpointPrefix, checkpointSuffix)
	}
	return latest, nil
}

// latestCheckpoint returns the checkpoint with the highest step in dir, or
// "" if there is none.
func latestCheckpoint(dir string) (string, error) {
	names, err := listCheckpoints(dir)
	if err != nil || len(names) == 0 {
		return "", err
	}
	return filepath.Join(dir, names[len(names)-1]), nil
}

// listCheckpoints returns the step checkpoints in dir, oldest first (their
// names hold a zero-padded step).
func listCheckpoints(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		return nil, err
	}
	var names []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), checkpointPrefix) && strings.HasSuffix(e.Name(), checkpointSuffix) {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	return names, nil
}

func checkpointName(step int) string {
	return fmt.Sprintf("%s%09d%s", checkpointPrefix, step, checkpointSuffix)
}

func isDir(path string) bool {
	info, err := os.Stat(path)
	return err == nil && info.IsDir()
}

// LatestRun returns the most recent run folder (training_<timestamp>) under
// root, for example to evaluate the run a notebook cell just trained.
func LatestRun(root string) (string, error) {
	runs, err := filepath.Glob(filepath.Join(root, "training_*"))
	if err != nil {
		return "", err
	}
	var latest string
	for _, dir := range runs {
		if isDir(dir) && dir > latest {
			latest = dir
		}
	}
	if latest == "" {
		return "", fmt.Errorf("no run folder (training_*) in %s; train a model first", root)
	}
	return latest, nil
}

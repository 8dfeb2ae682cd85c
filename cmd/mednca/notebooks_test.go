package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mednca/mednca/plotting"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// notebookTinySettings name every key the training notebook sets, so a run
// does not depend on the notebook's own values: 32x32 images, 4+4 steps,
// one epoch of 60 synthetic samples, a few seconds on one CPU core.
const notebookTinySettings = "size=32,scale=2,patch=16,steps1=4,steps2=4,hidden=16," +
	"synthetic=60,batch=4,lr=4e-3,gallery=2,epochs=1"

// projectNotebooks returns the notebooks of the notebooks/ folder.
func projectNotebooks(t *testing.T) []string {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join("..", "..", "notebooks", "*.ipynb"))
	require.NoError(t, err)
	require.NotEmpty(t, paths, "no notebooks in notebooks/")
	return paths
}

// notebookName is the file name of a notebook without .ipynb.
func notebookName(path string) string {
	return strings.TrimSuffix(filepath.Base(path), ".ipynb")
}

func TestProjectNotebooksConvert(t *testing.T) {
	// Every cell of every notebook has an equivalent in a program.
	for _, nb := range projectNotebooks(t) {
		out := filepath.Join(t.TempDir(), notebookName(nb))
		require.Equal(t, 0, runMain([]string{"nb2go", "--strict", nb, "-o", out}), "converting %s", nb)
		src, err := os.ReadFile(filepath.Join(out, "main.go"))
		require.NoError(t, err)
		assert.Contains(t, string(src), "github.com/mednca/mednca/", "%s imports no project package", nb)
	}
}

// buildNotebookPrograms converts the notebooks and builds them as one Go
// workspace with the repository, as the kernel runs their cells, and
// returns the folder holding one executable per notebook name.
func buildNotebookPrograms(t *testing.T, notebooks []string) string {
	t.Helper()
	repo, err := filepath.Abs(filepath.Join("..", ".."))
	require.NoError(t, err)
	work := t.TempDir()
	progs := filepath.Join(work, "progs")
	require.NoError(t, os.MkdirAll(progs, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(progs, "go.mod"),
		[]byte("module mednca.local/notebooks\n\ngo 1.27\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(work, "go.work"),
		[]byte("go 1.27\n\nuse (\n\t./progs\n\t"+repo+"\n)\n"), 0o644))

	args := []string{"build", "-o", filepath.Join(work, "bin") + string(filepath.Separator)}
	for _, nb := range notebooks {
		name := notebookName(nb)
		require.Equal(t, 0, runMain([]string{"nb2go", nb, "-o", filepath.Join(progs, name)}))
		args = append(args, "./progs/"+name)
	}
	cmd := exec.Command("go", args...)
	cmd.Dir = work
	b, err := cmd.CombinedOutput()
	require.NoError(t, err, "building the converted notebooks:\n%s", b)
	return filepath.Join(work, "bin")
}

func TestProjectNotebooksBuild(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a program per notebook; skipped with -short")
	}
	notebooks := projectNotebooks(t)
	bin := buildNotebookPrograms(t, notebooks)
	for _, nb := range notebooks {
		assert.FileExists(t, filepath.Join(bin, notebookName(nb)))
	}
}

func TestTrainingNotebookMatchesTrainCommand(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the training notebook and trains twice; skipped with -short")
	}
	nb := filepath.Join("..", "..", "notebooks", "03_training.ipynb")
	require.FileExists(t, nb)
	t.Setenv("MEDNCA_BACKEND", "go")
	bin := buildNotebookPrograms(t, []string{nb})

	// The converted notebook trains one epoch, then resumes to epoch 2.
	nbOut := t.TempDir()
	cmd := exec.Command(filepath.Join(bin, "03_training"), "--set", notebookTinySettings, "--resume_to", "2",
		"--out", nbOut)
	b, err := cmd.CombinedOutput()
	require.NoError(t, err, "running the converted training notebook:\n%s", b)

	// mednca train does the same from the command line.
	cliOut := t.TempDir()
	require.Equal(t, 0, runMain([]string{"train", notebookTinySettings, "--out", cliOut}))
	cliRun := onlyRun(t, cliOut)
	require.Equal(t, 0, runMain([]string{"train", "--resume", cliRun, "epochs=2"}))

	want, err := plotting.ReadMetricsCSV(filepath.Join(cliRun, "metrics.csv"))
	require.NoError(t, err)
	got, err := plotting.ReadMetricsCSV(filepath.Join(onlyRun(t, nbOut), "metrics.csv"))
	require.NoError(t, err)
	require.Len(t, want, 2)
	require.Len(t, got, len(want))
	for i := range want {
		assertSameMetrics(t, want[i], got[i])
	}
}

// onlyRun returns the single run folder that training wrote under root.
func onlyRun(t *testing.T, root string) string {
	t.Helper()
	runs, err := filepath.Glob(filepath.Join(root, "training_*"))
	require.NoError(t, err)
	require.Len(t, runs, 1, "run folders in %s", root)
	return runs[0]
}

// assertSameMetrics checks that two metrics.csv rows agree to 4 decimals,
// all but the elapsed time.
func assertSameMetrics(t *testing.T, want, got plotting.MetricsRow) {
	t.Helper()
	const tol = 5e-5
	assert.Equal(t, want.Step, got.Step)
	assert.InDelta(t, want.Epoch, got.Epoch, tol, "epoch at step %d", want.Step)
	assert.InDelta(t, want.TrainLoss, got.TrainLoss, tol, "train loss at step %d", want.Step)
	assert.InDelta(t, want.ValLoss, got.ValLoss, tol, "validation loss at step %d", want.Step)
	assert.InDelta(t, want.ValDice, got.ValDice, tol, "validation Dice at step %d", want.Step)
	assert.InDelta(t, want.ValIoU, got.ValIoU, tol, "validation IoU at step %d", want.Step)
	assert.InDelta(t, want.LR, got.LR, tol, "learning rate at step %d", want.Step)
}

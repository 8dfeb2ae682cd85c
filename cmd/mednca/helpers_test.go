package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/mednca/mednca/isic"
	"github.com/mednca/mednca/nca"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// sharedDir holds what several tests reuse: the tiny training run. It is
// removed when the tests end.
var sharedDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "mednca-cmd-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	sharedDir = dir

	// Loaded datasets are cached here rather than in the user's cache.
	os.Setenv(isic.CacheDirEnv, filepath.Join(dir, "cache"))
	status := m.Run()
	os.RemoveAll(dir)
	os.Exit(status)
}

var (
	tinyRunOnce sync.Once
	tinyRunDir  string
	tinyRunErr  error
)

// tinyConfig is a model small enough to train in seconds on the pure Go
// backend: 32x32 synthetic images, 4+4 steps, 16 hidden units.
func tinyConfig(t testing.TB) nca.Config {
	cfg := nca.DefaultConfig()
	require.NoError(t, cfg.Set("size=32", "patch=16", "steps1=4", "steps2=4", "hidden=16", "synthetic=40",
		"epochs=1", "batch=4", "scale=4", "gallery=2"))
	return cfg
}

// tinyRun trains the tiny model for one epoch, once per test binary, and
// returns its run folder.
func tinyRun(t testing.TB) string {
	t.Helper()
	if testing.Short() {
		t.Skip("trains a model; skipped with -short")
	}
	tinyRunOnce.Do(func() {
		backend, _, err := nca.NewBackend(nca.BackendGo)
		if err != nil {
			tinyRunErr = err
			return
		}
		result, err := nca.Train(context.Background(), tinyConfig(t), nca.TrainOptions{
			OutputRoot: filepath.Join(sharedDir, "runs"), Backend: backend, Progress: io.Discard})
		if err != nil {
			tinyRunErr = err
			return
		}
		tinyRunDir = result.Dir
	})
	require.NoError(t, tinyRunErr, "training the tiny model")
	return tinyRunDir
}

// runMednca runs `mednca ARGS...` in this process and returns its exit
// status and what it wrote on standard output and standard error.
func runMednca(t *testing.T, args ...string) (status int, stdout, stderr string) {
	t.Helper()
	outR, outW, err := os.Pipe()
	require.NoError(t, err)
	errR, errW, err := os.Pipe()
	require.NoError(t, err)

	// The pipes are drained while the command runs, so long output cannot
	// block it.
	read := func(r *os.File, into *string, done chan<- struct{}) {
		b, _ := io.ReadAll(r)
		*into = string(b)
		close(done)
	}
	outDone, errDone := make(chan struct{}), make(chan struct{})
	go read(outR, &stdout, outDone)
	go read(errR, &stderr, errDone)

	savedOut, savedErr := os.Stdout, os.Stderr
	os.Stdout, os.Stderr = outW, errW
	defer func() { os.Stdout, os.Stderr = savedOut, savedErr }()
	status = runMain(args)
	os.Stdout, os.Stderr = savedOut, savedErr
	require.NoError(t, outW.Close())
	require.NoError(t, errW.Close())
	<-outDone
	<-errDone
	return status, stdout, stderr
}

// syntheticISIC writes n synthetic samples of side size in the ISIC 2018
// layout under a new temporary folder and returns it.
func syntheticISIC(t *testing.T, n, size int) string {
	t.Helper()
	dir := t.TempDir()
	require.NoError(t, isic.WriteSynthetic(dir, n, 3, isic.SyntheticOptions{Size: size}))
	return dir
}

// requireFails runs `mednca COMMAND --backend go ARGS...` and checks that it
// fails with a message that contains want.
func requireFails(t *testing.T, command, want string, args ...string) {
	t.Helper()
	status, _, stderr := runMednca(t, append([]string{command, "--backend", "go"}, args...)...)
	assert.NotEqual(t, 0, status, "%s %v succeeded", command, args)
	assert.Contains(t, stderr, want, "%s %v", command, args)
}

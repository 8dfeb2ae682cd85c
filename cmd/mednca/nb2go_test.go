package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestNB2GoCommand(t *testing.T) {
	// The kernels' smoke notebook converts without issues.
	out := filepath.Join(t.TempDir(), "smoke")
	nb := filepath.Join("..", "..", "kernels", "testdata", "smoke.ipynb")
	status := runMain([]string{"nb2go", nb, "-o", out})
	require.Equal(t, 0, status)
	src, err := os.ReadFile(filepath.Join(out, "main.go"))
	require.NoError(t, err)
	assert.Contains(t, string(src), "func cell2() {\n\tfmt.Println(\"hello from GoNB\")\n}")
}

func TestNB2GoCommandErrors(t *testing.T) {
	// Missing -o is a usage error; a missing notebook a plain failure.
	assert.Equal(t, 2, runMain([]string{"nb2go", "x.ipynb"}))
	missing := filepath.Join(t.TempDir(), "none.ipynb")
	assert.Equal(t, 1, runMain([]string{"nb2go", missing, "-o", t.TempDir()}))

	// With --strict, anything not converted fails the command.
	nb := filepath.Join(t.TempDir(), "shell.ipynb")
	require.NoError(t, os.WriteFile(nb, []byte(`{"nbformat": 4, "cells": [
		{"cell_type": "code", "source": ["!ls\n", "%%\n", "println(1)\n"]}]}`), 0o644))
	assert.Equal(t, 0, runMain([]string{"nb2go", nb, "-o", t.TempDir()}))
	assert.Equal(t, 1, runMain([]string{"nb2go", nb, "-o", t.TempDir(), "--strict"}))
}

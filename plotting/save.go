package plotting

import (
	"fmt"
	"image"
	"image/png"
	"os"
	"path/filepath"
)

// SavePNG writes img to path as PNG. It writes a temporary file in the same
// directory and renames it, so readers never see a half-written picture; the
// parent directories are created as needed.
func SavePNG(path string, img image.Image) error {
	return writeAtomic(path, func(f *os.File) error { return png.Encode(f, img) })
}

// writeAtomic creates path's directory, lets write fill a temporary file next
// to path and renames it onto path once complete.
func writeAtomic(path string, write func(f *os.File) error) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("creating directory %q for %q: %w", dir, path, err)
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("creating temporary file for %q: %w", path, err)
	}
	tmp := f.Name()

	// On any failure the temporary file is removed so no debris is left.
	err = write(f)
	if closeErr := f.Close(); err == nil {
		err = closeErr
	}
	if err == nil {
		err = os.Chmod(tmp, 0o644)
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("writing %q: %w", path, err)
	}
	return nil
}

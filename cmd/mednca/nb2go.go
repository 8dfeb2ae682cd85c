package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/mednca/mednca/internal/nb2go"
)

func init() {
	register("nb2go", "convert a GoNB notebook into a Go program that runs its cells", runNB2Go)
}

// runNB2Go converts one notebook into DIR/main.go and lists what could not
// be converted (shell commands, %test cells, ...).
func runNB2Go(args []string) error {
	fs := newFlagSet("nb2go", "NOTEBOOK.ipynb -o DIR")
	outDir := fs.String("o", "", "directory of the generated program (main.go is written there)")
	strict := fs.Bool("strict", false, "fail (exit status 1) when anything could not be converted")
	positional, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(positional) != 1 || *outDir == "" {
		fmt.Fprintln(os.Stderr, "mednca nb2go: give one notebook and the output directory with -o")
		fs.Usage()
		return errUsage
	}

	res, err := nb2go.ConvertFile(positional[0], *outDir)
	if res != nil {
		for _, is := range res.Issues {
			fmt.Printf("not converted: %s\n", is)
		}
	}
	if err != nil {
		return err
	}
	fmt.Printf("wrote %s (%d parts not converted)\n", filepath.Join(*outDir, "main.go"), len(res.Issues))
	if *strict && len(res.Issues) > 0 {
		return fmt.Errorf("%d parts of %q could not be converted (listed above); --strict is set",
			len(res.Issues), positional[0])
	}
	return nil
}

package main

import (
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"

	"github.com/mednca/mednca/nca"
)

func init() {
	register("backends", "list the compute backends this build offers and their libraries", runBackends)
}

// runBackends prints each backend NewBackend knows: built in or not, the
// native library found (ONNX Runtime, PJRT CUDA plugin), the NVIDIA
// libraries missing, and which one "auto" picks. With --plugin-path it
// prints only the PJRT CUDA plugin path, for scripts.
func runBackends(args []string) error {
	fs := newFlagSet("backends", "[--plugin-path] [--plugin PATH]")
	pluginPathOnly := fs.Bool("plugin-path", false,
		"print only the path of the PJRT CUDA plugin found (exit status 1 if none)")
	plugin := fs.String("plugin", "",
		"check this PJRT CUDA plugin instead of searching (default $"+nca.PJRTPluginEnv+")")
	positional, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(positional) > 0 {
		fmt.Fprintf(os.Stderr, "mednca backends: unexpected argument %q\n", positional[0])
		fs.Usage()
		return errUsage
	}
	if *plugin != "" {
		if info, err := os.Stat(*plugin); err != nil || info.IsDir() {
			return fmt.Errorf("--plugin %q is not a file: give the path of the PJRT CUDA plugin "+
				"(xla_cuda_plugin.so or pjrt_c_api_cuda_plugin.so)", *plugin)
		}
		// NewBackend and AvailableBackends read the plugin from here.
		if err := os.Setenv(nca.PJRTPluginEnv, *plugin); err != nil {
			return err
		}
	}

	if *pluginPathOnly {
		found, _, err := nca.FindCUDAPlugin("")
		if err != nil {
			return err
		}
		fmt.Println(found.Path)
		return nil
	}
	printBackends()
	return nil
}

// printBackends writes one block per backend, then the CUDA plugin's
// libraries and the backend "auto" would choose.
func printBackends() {
	fmt.Println("Backends, in the order auto prefers them:")
	for _, info := range nca.AvailableBackends() {
		state := "available"
		switch {
		case !info.Built:
			state = "not in this build"
		case !info.Available:
			state = "not available"
		}
		fmt.Printf("  %-9s %s: %s\n", info.Name, state, info.Description)
		if info.LibraryPath != "" {
			fmt.Printf("            library: %s\n", info.LibraryPath)
		}
		if len(info.Missing) > 0 {
			fmt.Printf("            missing: %s\n", strings.Join(info.Missing, ", "))
		}
		if info.Problem != "" {
			fmt.Printf("            why: %s\n", info.Problem)
		}
	}
	printCUDADetails()
	fmt.Printf("auto picks: %s (set --backend or $%s to choose)\n", autoChoice(), nca.BackendEnv)
}

// printCUDADetails lists the NVIDIA libraries found for the CUDA plugin.
func printCUDADetails() {
	plugin, _, err := nca.FindCUDAPlugin("")
	if err != nil {
		return
	}
	fmt.Printf("PJRT CUDA plugin %s (%s layout)\n", plugin.Path, plugin.Layout)
	if plugin.NVIDIADir != "" {
		fmt.Printf("  NVIDIA libraries folder: %s\n", plugin.NVIDIADir)
	}
	if plugin.CUDADataDir != "" {
		fmt.Printf("  CUDA data folder (libdevice): %s\n", plugin.CUDADataDir)
	}
	names := slices.Sorted(maps.Keys(plugin.Libraries))
	for _, name := range names {
		fmt.Printf("  found %s: %s\n", name, plugin.Libraries[name])
	}
}

// autoChoice names the backend NewBackend("auto") would create, without
// creating it.
func autoChoice() string {
	infos := nca.AvailableBackends()
	for _, info := range infos {
		if info.Available && len(info.Missing) == 0 {
			return info.Name
		}
	}
	return nca.BackendGo
}

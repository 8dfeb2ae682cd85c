// Command mednca trains, evaluates and runs the two-level Med-NCA lesion
// segmentation model, and inspects ISIC 2018 data.
//
// Each subcommand lives in its own file and registers itself in init with
// [register]. Run `mednca help` for the list.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"sort"
)

// command is one subcommand of mednca: its name (possibly two words, like
// "data stats"), a one-line summary and the function that runs it on the
// remaining arguments.
type command struct {
	name    string
	summary string
	run     func(args []string) error
}

var commands = map[string]*command{}

// register adds a subcommand; called from the init of each command's file.
func register(name, summary string, run func(args []string) error) {
	if _, dup := commands[name]; dup {
		panic("mednca: command registered twice: " + name)
	}
	commands[name] = &command{name: name, summary: summary, run: run}
}

// errUsage marks an error already explained to the user by a flag set; main
// exits with status 2 without printing it again.
var errUsage = errors.New("usage error")

func main() {
	os.Exit(runMain(os.Args[1:]))
}

// runMain dispatches args to a subcommand and returns the exit status.
func runMain(args []string) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		printHelp()
		return 0
	}

	// Two-word commands ("data stats") take precedence over one-word ones.
	var cmd *command
	var rest []string
	if len(args) >= 2 {
		if c, ok := commands[args[0]+" "+args[1]]; ok {
			cmd, rest = c, args[2:]
		}
	}
	if cmd == nil {
		if c, ok := commands[args[0]]; ok {
			cmd, rest = c, args[1:]
		}
	}
	if cmd == nil {
		fmt.Fprintf(os.Stderr, "mednca: unknown command %q; run `mednca help` for the list\n", args[0])
		return 2
	}

	if err := cmd.run(rest); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		if errors.Is(err, errUsage) {
			return 2
		}
		fmt.Fprintf(os.Stderr, "mednca %s: %v\n", cmd.name, err)
		return 1
	}
	return 0
}

func printHelp() {
	names := make([]string, 0, len(commands))
	for name := range commands {
		names = append(names, name)
	}
	sort.Strings(names)
	fmt.Println("mednca: two-level neural cellular automata for skin-lesion segmentation.")
	fmt.Println()
	fmt.Println("Commands:")
	for _, name := range names {
		fmt.Printf("  %-12s %s\n", name, commands[name].summary)
	}
	fmt.Println()
	fmt.Println("Run `mednca COMMAND -h` for the flags of one command.")
}

// newFlagSet returns a flag set for a subcommand that reports errors instead
// of exiting, so the caller decides the exit status.
func newFlagSet(name, usage string) *flag.FlagSet {
	fs := flag.NewFlagSet("mednca "+name, flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: mednca %s %s\n\nFlags:\n", name, usage)
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses args into fs and returns the positional arguments.
// Flags may come before, between or after positional arguments, so
// `mednca predict a.jpg --out DIR` works; "--" ends flag parsing. A bad
// flag has already been reported by fs, so it is returned as errUsage.
func parseFlags(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, errUsage
		}
		args = fs.Args()
		if len(args) == 0 {
			return positional, nil
		}
		if args[0] == "--" {
			return append(positional, args[1:]...), nil
		}
		positional = append(positional, args[0])
		args = args[1:]
	}
}

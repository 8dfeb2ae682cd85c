// Package nb2go turns a GoNB notebook (.ipynb) into a Go program that builds
// and runs the notebook's cells in order, so a notebook that teaches a step
// can also run as a batch job or be checked by the compiler in CI.
//
// # Rules
//
// The conversion follows GoNB's own semantics where a program can:
//
//   - Top-level declarations (imports, constants, variables, types, functions
//     and methods) accumulate from cell to cell. A later declaration of the
//     same name replaces the earlier one; a grouped var or const declaration
//     is replaced whole when a later one declares any of its names.
//   - `%%` or `%main` makes the rest of the cell the body of a function
//     cellN (N is the cell's position in the notebook, from 1); a cell
//     declaring `func main()` has that body become cellN instead. `%exec f`
//     makes cellN call f. main() parses the command line and calls every
//     cellN in notebook order.
//   - Functions named init_something become init functions, as in GoNB,
//     and package clauses in cells are ignored (every cell is package main).
//   - Arguments given with `%% args`, `%main args`, `%args` or `%exec f args`
//     are applied to the flags right before that cell runs, starting from the
//     flags' defaults each time (each GoNB cell runs in a fresh process);
//     flags given to the program on its command line win over them. So a
//     notebook's flags become the program's flags.
//   - `%env VAR value` becomes os.Setenv and `%cd dir` becomes os.Chdir, at
//     the start of the cell where they appear. `%%writefile [-a] path`
//     becomes a cell that writes the cell's text to path.
//   - `%rm`/`%remove` forget declarations and `%reset` forgets all of them.
//   - Imports are tidied as GoNB does: unused ones are dropped and missing
//     ones added (golang.org/x/tools/imports).
//
// # What is not converted
//
// Shell commands (`!cmd`, `!*cmd`, `%%script`, `%%bash`, `%%sh`), `%test`
// and `%wasm` cells, `%goflags`, `%capture`, `%with_inputs` and
// `%with_password` have no equivalent in a plain program: they are kept as
// comments where they were and listed as [Issue]s. So are cells whose Go
// code does not parse.
//
// One difference remains by design: GoNB runs every cell in a new process,
// so a global variable changed by one cell starts from its initial value in
// the next; in the converted program globals keep their values across
// cells, and every cell sees the last definition of each declaration.
package nb2go

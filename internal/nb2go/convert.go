package nb2go

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/scanner"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"golang.org/x/tools/imports"
)

// Issue is a part of a notebook that has no equivalent in the program: it
// is kept as a comment and reported.
type Issue struct {
	Cell   int    // Cell position in the notebook, from 1.
	Line   int    // Line within the cell, from 1.
	Text   string // The notebook line concerned.
	Reason string // Why it was not converted.
}

// String formats the issue as "cell C line L: reason: text" (without the
// line when the issue concerns the whole cell).
func (i Issue) String() string {
	if i.Line == 0 {
		return fmt.Sprintf("cell %d: %s: %s", i.Cell, i.Reason, i.Text)
	}
	return fmt.Sprintf("cell %d line %d: %s: %s", i.Cell, i.Line, i.Reason, i.Text)
}

// Result is a converted notebook.
type Result struct {
	Source []byte  // Formatted source of package main.
	Issues []Issue // What could not be converted.
}

// decl is one top-level declaration kept from the cells: the names it
// declares ("id:Name" or "method:Type.Name") and its source text.
type decl struct {
	keys []string
	text string
	cell int
}

// cellFunc is the function cellN generated for one cell.
type cellFunc struct {
	name  string
	args  []string // Flags the cell ran with.
	setup []string // Statements run before the body (%env, %cd, comments).
	body  string
}

// converter accumulates the program while walking the cells in order.
type converter struct {
	decls   []*decl
	imports []string // Import specs, as written: `"fmt"` or `p "x/y"`.
	cells   []*cellFunc
	args    []string // Flags of the next cell, set by %args and %%.
	hasArgs bool     // Some cell runs with flags: main must apply them.
	helpers map[string]bool
	issues  []Issue
	blanks  int // Blank-identifier declarations seen so far.
}

// ConvertFile converts the notebook at nbPath into outDir/main.go. The
// file is written even when it does not parse, for inspection; the error
// then says so.
func ConvertFile(nbPath, outDir string) (*Result, error) {
	cells, err := ReadNotebook(nbPath)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return nil, fmt.Errorf("creating output directory: %w", err)
	}
	out := filepath.Join(outDir, "main.go")
	res, convErr := Convert(cells, filepath.Base(nbPath), out)
	if res == nil {
		return nil, convErr
	}
	if err := os.WriteFile(out, res.Source, 0o644); err != nil {
		return nil, fmt.Errorf("writing program: %w", err)
	}
	if convErr != nil {
		return res, fmt.Errorf("notebook %q converted into %q: %w", nbPath, out, convErr)
	}
	return res, nil
}

// Convert turns the cells into the source of a main package. name (the
// notebook's file name) goes into the generated comments; filename is where
// the source will live, which decides how missing imports are resolved. On a
// parse error of the generated code it returns the unformatted source and
// the error.
func Convert(cells []Cell, name, filename string) (*Result, error) {
	c := &converter{helpers: map[string]bool{}}
	for _, cell := range cells {
		if cell.Kind == "code" {
			c.cell(cell)
		}
	}
	src := c.render(name)
	formatted, err := imports.Process(filename, src, &imports.Options{
		Comments: true, TabIndent: true, TabWidth: 8})
	if err != nil {
		return &Result{Source: src, Issues: c.issues}, fmt.Errorf("generated code does not parse: %w", err)
	}
	return &Result{Source: formatted, Issues: c.issues}, nil
}

// issue records what could not be converted.
func (c *converter) issue(cell, line int, text, reason string) {
	c.issues = append(c.issues,
		Issue{Cell: cell, Line: line, Text: strings.TrimSpace(text), Reason: reason})
}

// cell converts one code cell: special commands, declarations and body.
func (c *converter) cell(cell Cell) {
	lines := strings.Split(cell.Source, "\n")
	if magic := strings.TrimPrefix(lines[0], "//gonb:"); strings.HasPrefix(magic, "%%") &&
		len(magic) > 2 && magic[2] != ' ' && magic[2] != '\t' {
		c.cellMagic(cell, magic, lines[1:])
		return
	}

	// Go lines go to the declarations (before %%) or the body (after); other
	// lines stay blank in both, so line numbers match the cell's.
	cf := &cellFunc{name: fmt.Sprintf("cell%d", cell.Index)}
	declLines := make([]string, len(lines))
	bodyLines := make([]string, len(lines))
	inMain, skipGo, hasMain := false, false, false
	for i := 0; i < len(lines); i++ {
		line := strings.TrimPrefix(lines[i], "//gonb:")
		switch {
		case strings.HasPrefix(line, "!"):
			cmd, n := joinContinued(lines, i)
			c.issue(cell.Index, i+1, cmd, "shell command not converted")
			cf.setup = append(cf.setup, "// "+cmd+" (shell command in the notebook, not converted)")
			i += n - 1
		case strings.HasPrefix(line, "%"):
			cmd, n := joinContinued(lines, i)
			switch c.special(cf, cell.Index, i+1, cmd) {
			case startsMain:
				inMain, hasMain = true, true
			case skipsCell:
				skipGo = true
			}
			i += n - 1
		case inMain:
			bodyLines[i] = lines[i]
		case packageClause.MatchString(line):
			// GoNB ignores package clauses: every cell is part of package main.
		default:
			declLines[i] = lines[i]
		}
	}
	cf.args = slices.Clone(c.args)
	c.hasArgs = c.hasArgs || len(c.args) > 0
	if !skipGo {
		c.declarations(cell.Index, strings.Join(declLines, "\n"), cf)
		if hasMain {
			c.mainBody(cell.Index, strings.Join(bodyLines, "\n"), cf)
		}
	}
	if cf.body != "" || len(cf.setup) > 0 {
		c.cells = append(c.cells, cf)
	}
}

// packageClause matches a package clause line, which cells may contain.
var packageClause = regexp.MustCompile(`^\s*package\s+\w+\s*(//.*)?$`)

// joinContinued returns the command starting at lines[i], joined with the
// following lines while they end in a backslash, and how many lines it took.
func joinContinued(lines []string, i int) (string, int) {
	cmd := ""
	n := 0
	for ; i+n < len(lines); n++ {
		line := strings.TrimPrefix(lines[i+n], "//gonb:")
		if !strings.HasSuffix(line, "\\") {
			return cmd + line, n + 1
		}
		cmd += strings.TrimSuffix(line, "\\") + " "
	}
	return strings.TrimSpace(cmd), n
}

// specialEffect is what a special command does to the rest of its cell.
type specialEffect int

const (
	noEffect   specialEffect = iota
	startsMain               // The following lines are the body of main.
	skipsCell                // The cell's Go code is not converted.
)

// ignoredCommands change nothing in a program run (completion, module
// tracking, help): they are dropped silently.
var ignoredCommands = map[string]bool{"autoget": true, "noautoget": true, "track": true,
	"untrack": true, "goworkfix": true, "widgets": true, "widgets_hb": true, "help": true,
	"version": true, "ls": true, "list": true}

// special converts one %-command (cmd includes the %) of cell at line.
func (c *converter) special(cf *cellFunc, cell, line int, cmd string) specialEffect {
	parts := splitCmd(strings.TrimPrefix(cmd, "%"))
	if len(parts) == 0 {
		c.issue(cell, line, cmd, "empty special command")
		return noEffect
	}
	switch name := parts[0]; {
	case name == "%" || name == "main":
		c.args = parts[1:]
		return startsMain
	case name == "args":
		c.args = parts[1:]
	case name == "exec":
		if len(parts) < 2 {
			c.issue(cell, line, cmd, "%exec needs the name of a function")
			return noEffect
		}
		c.args = parts[2:]
		cf.body = parts[1] + "()"
	case name == "test" || name == "wasm":
		c.issue(cell, line, cmd, "%"+name+" cells have no equivalent in a program; cell skipped")
		return skipsCell
	case name == "env":
		c.env(cf, cell, line, cmd, parts[1:])
	case name == "cd" && len(parts) == 2:
		c.helpers["chdir"] = true
		cf.setup = append(cf.setup, fmt.Sprintf("nbChdir(%q)", parts[1]))
	case name == "cd":
		// Without a directory %cd only prints the current one.
	case name == "rm" || name == "remove":
		c.remove(parts[1:])
	case name == "reset":
		if len(parts) == 1 {
			c.decls, c.imports = nil, nil
		}
	case ignoredCommands[name]:
	default:
		c.issue(cell, line, cmd, "special command not converted")
		cf.setup = append(cf.setup, "// "+cmd+" (not converted)")
	}
	return noEffect
}

// env converts `%env VAR value` or `%env VAR=value` into os.Setenv.
func (c *converter) env(cf *cellFunc, cell, line int, cmd string, args []string) {
	if len(args) == 1 {
		if k, v, ok := strings.Cut(args[0], "="); ok {
			args = []string{k, v}
		}
	}
	if len(args) != 2 {
		c.issue(cell, line, cmd, "%env needs VAR value or VAR=value")
		return
	}
	cf.setup = append(cf.setup, fmt.Sprintf("os.Setenv(%q, %q)", args[0], args[1]))
}

// splitCmd splits a special command into words; single or double quotes
// group words with spaces.
func splitCmd(s string) []string {
	var parts []string
	var cur strings.Builder
	inWord := false
	var quote rune
	for _, r := range s {
		switch {
		case quote != 0 && r == quote:
			quote = 0
		case quote != 0:
			cur.WriteRune(r)
		case r == '"' || r == '\'':
			quote, inWord = r, true
		case r == ' ' || r == '\t':
			if inWord {
				parts = append(parts, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if inWord {
		parts = append(parts, cur.String())
	}
	return parts
}

// cellMagic converts a cell whose first line is a %%-magic.
func (c *converter) cellMagic(cell Cell, magic string, rest []string) {
	parts := splitCmd(strings.TrimPrefix(magic, "%%"))
	if parts[0] != "writefile" {
		c.issue(cell.Index, 1, magic, "cell magic not converted; cell skipped")
		c.cells = append(c.cells, &cellFunc{name: fmt.Sprintf("cell%d", cell.Index), args: slices.Clone(c.args),
			setup: []string{"// " + magic + " (cell magic in the notebook, not converted)"}})
		return
	}
	appendTo := len(parts) > 1 && parts[1] == "-a"
	args := parts[1:]
	if appendTo {
		args = args[1:]
	}
	if len(args) != 1 {
		c.issue(cell.Index, 1, magic, "%%writefile needs one file path")
		return
	}
	c.helpers["writefile"] = true
	call := fmt.Sprintf("nbWriteFile(%q, %s, %v)", args[0], goString(strings.Join(rest, "\n")), appendTo)
	c.cells = append(c.cells, &cellFunc{name: fmt.Sprintf("cell%d", cell.Index), args: slices.Clone(c.args),
		setup: []string{call}})
}

// goString quotes s as a Go string literal, raw when that is possible.
func goString(s string) string {
	if !strings.Contains(s, "`") && !strings.Contains(s, "\r") {
		return "`" + s + "`"
	}
	return fmt.Sprintf("%q", s)
}

// parseError reports a Go syntax error of a cell, with the cell's line.
func (c *converter) parseError(cell, lineOffset int, lines []string, err error, what string) {
	line := 0
	if list, ok := err.(scanner.ErrorList); ok && len(list) > 0 {
		line = list[0].Pos.Line - lineOffset
		err = list[0]
	}
	text := ""
	if line >= 1 && line <= len(lines) {
		text = lines[line-1]
	}
	c.issue(cell, line, text, fmt.Sprintf("%s not converted, Go syntax error: %v", what, err))
}

// mainBody checks the body of a %% cell and keeps it as the cell's body.
func (c *converter) mainBody(cell int, body string, cf *cellFunc) {
	if cf.body != "" {
		c.issue(cell, 1, "func main", "cell has both func main and %%; the %% body wins")
	}
	src := "package main\nfunc _() {\n" + body + "\n}\n"
	if _, err := parser.ParseFile(token.NewFileSet(), "", src, 0); err != nil {
		c.parseError(cell, 2, strings.Split(body, "\n"), err, "cell body")
		cf.body = ""
		return
	}
	cf.body = body
}

// declarations parses the top-level Go code of a cell and keeps its imports
// and declarations; a func main becomes the cell's body.
func (c *converter) declarations(cell int, code string, cf *cellFunc) {
	if strings.TrimSpace(code) == "" {
		return
	}
	src := "package main\n" + code
	fset := token.NewFileSet()
	file, err := parser.ParseFile(fset, "", src, parser.ParseComments)
	if err != nil {
		c.parseError(cell, 1, strings.Split(code, "\n"), err, "declarations")
		return
	}
	text := func(from, to token.Pos) string {
		return src[fset.Position(from).Offset:fset.Position(to).Offset]
	}
	for _, d := range file.Decls {
		switch d := d.(type) {
		case *ast.GenDecl:
			if d.Tok == token.IMPORT {
				for _, s := range d.Specs {
					c.addImport(text(s.Pos(), s.End()))
				}
				continue
			}
			c.addDecl(&decl{keys: c.genDeclKeys(d), text: text(start(d.Doc, d.Pos()), d.End()), cell: cell})
		case *ast.FuncDecl:
			c.funcDecl(cell, d, text, cf)
		}
	}
}

// funcDecl keeps a function or method; main becomes the cell body and
// init_something becomes an init function, as in GoNB.
func (c *converter) funcDecl(cell int, d *ast.FuncDecl, text func(from, to token.Pos) string,
	cf *cellFunc) {
	name := d.Name.Name
	if d.Recv == nil && name == "main" {
		cf.body = text(d.Body.Lbrace+1, d.Body.Rbrace)
		return
	}
	key := "id:" + name
	if d.Recv != nil && len(d.Recv.List) > 0 {
		key = "method:" + receiverType(d.Recv.List[0].Type) + "." + name
	}
	src := text(start(d.Doc, d.Pos()), d.End())
	if d.Recv == nil && strings.HasPrefix(name, "init_") {
		head := text(start(d.Doc, d.Pos()), d.Name.Pos())
		src = head + "init" + src[len(head)+len(name):]
	}
	c.addDecl(&decl{keys: []string{key}, text: src, cell: cell})
}

// start is where a declaration's text begins: at its doc comment if any.
func start(doc *ast.CommentGroup, pos token.Pos) token.Pos {
	if doc != nil {
		return doc.Pos()
	}
	return pos
}

// receiverType returns the type name of a method receiver, without pointer
// or type parameters.
func receiverType(e ast.Expr) string {
	switch t := e.(type) {
	case *ast.StarExpr:
		return receiverType(t.X)
	case *ast.IndexExpr:
		return receiverType(t.X)
	case *ast.IndexListExpr:
		return receiverType(t.X)
	case *ast.ParenExpr:
		return receiverType(t.X)
	case *ast.Ident:
		return t.Name
	}
	return fmt.Sprintf("%T", e)
}

// genDeclKeys lists the names a const, var or type declaration declares.
// Blank identifiers get numbered keys, so they never replace one another.
func (c *converter) genDeclKeys(d *ast.GenDecl) []string {
	var keys []string
	add := func(name string) {
		if name == "_" {
			c.blanks++
			name = fmt.Sprintf("_#%d", c.blanks)
		}
		keys = append(keys, "id:"+name)
	}
	for _, s := range d.Specs {
		switch s := s.(type) {
		case *ast.TypeSpec:
			add(s.Name.Name)
		case *ast.ValueSpec:
			for _, n := range s.Names {
				add(n.Name)
			}
		}
	}
	return keys
}

// addImport keeps an import spec once.
func (c *converter) addImport(spec string) {
	if !slices.Contains(c.imports, spec) {
		c.imports = append(c.imports, spec)
	}
}

// addDecl keeps d, replacing earlier declarations of any of its names.
func (c *converter) addDecl(d *decl) {
	c.decls = slices.DeleteFunc(c.decls, func(old *decl) bool {
		for _, k := range old.keys {
			if slices.Contains(d.keys, k) {
				c.reportDropped(old, d)
				return true
			}
		}
		return false
	})
	c.decls = append(c.decls, d)
}

// reportDropped notes names lost because a grouped declaration was replaced
// by one that does not declare them all.
func (c *converter) reportDropped(old, repl *decl) {
	for _, k := range old.keys {
		if !slices.Contains(repl.keys, k) && !strings.HasPrefix(k, "id:_#") {
			c.issue(repl.cell, 0, strings.TrimPrefix(k, "id:"), fmt.Sprintf(
				"dropped: declared in cell %d together with a name this cell declares again", old.cell))
		}
	}
}

// remove forgets the named declarations (%rm): plain names or Type.Method.
func (c *converter) remove(names []string) {
	c.decls = slices.DeleteFunc(c.decls, func(d *decl) bool {
		for _, n := range names {
			if slices.Contains(d.keys, "id:"+n) || slices.Contains(d.keys, "method:"+n) {
				return true
			}
		}
		return false
	})
}

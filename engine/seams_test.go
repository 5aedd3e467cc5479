package engine_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
)

// forbidden are calls engine logic must make through engine/clock or
// engine/vfs instead, so tests and the simulator control time and disk.
var forbidden = map[string]map[string]bool{
	"time": {"Now": true, "Sleep": true, "After": true, "AfterFunc": true, "NewTimer": true, "NewTicker": true, "Tick": true, "Since": true, "Until": true},
	"os": {"Open": true, "OpenFile": true, "Create": true, "ReadFile": true, "WriteFile": true, "Remove": true, "RemoveAll": true,
		"Rename": true, "Mkdir": true, "MkdirAll": true, "MkdirTemp": true, "CreateTemp": true, "ReadDir": true, "Stat": true, "Lstat": true,
		"Truncate": true, "Chmod": true, "Chtimes": true, "Link": true, "Symlink": true},
	"ioutil": {"ReadFile": true, "WriteFile": true, "ReadDir": true, "TempFile": true, "TempDir": true},
}

// The seams themselves implement the real clock and file system.
var exempt = map[string]bool{"clock": true, "vfs": true}

// TestEngineUsesSeams fails when non-test engine code reads the wall clock
// or touches the file system other than through engine/clock and engine/vfs.
func TestEngineUsesSeams(t *testing.T) {
	fset := token.NewFileSet()
	var bad []string
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			// Test-support packages (channeltest, sinktest, sinkmock) run only
			// under `go test` and may read the wall clock for their deadlines.
			if exempt[d.Name()] || d.Name() == "testdata" || strings.HasSuffix(d.Name(), "test") || strings.HasSuffix(d.Name(), "mock") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		// Map local import names to package paths.
		local := map[string]string{}
		for _, imp := range f.Imports {
			p := strings.Trim(imp.Path.Value, `"`)
			name := filepath.Base(p)
			if imp.Name != nil {
				name = imp.Name.Name
			}
			local[name] = filepath.Base(p)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			sel, ok := n.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			id, ok := sel.X.(*ast.Ident)
			if !ok || id.Obj != nil {
				return true
			}
			if pkg, ok := local[id.Name]; ok && forbidden[pkg][sel.Sel.Name] {
				bad = append(bad, fset.Position(sel.Pos()).String()+": "+pkg+"."+sel.Sel.Name)
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range bad {
		t.Errorf("%s bypasses engine/clock or engine/vfs", b)
	}
}

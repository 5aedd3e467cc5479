package reports

import (
	"bytes"
	_ "embed"
	"fmt"
	htmltemplate "html/template"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/template"
	"time"

	"github.com/sluicehq/sluice/reports/record"
)

//go:embed report.md.tmpl
var mdText string

//go:embed report.html.tmpl
var htmlText string

func cell(s string) string {
	s = strings.ReplaceAll(s, "|", `\|`)
	return strings.ReplaceAll(s, "\n", " ")
}

var funcs = template.FuncMap{
	"cell": cell,
	"row": func(cells []string) string {
		out := make([]string, len(cells))
		for i, c := range cells {
			out[i] = cell(c)
		}
		return "| " + strings.Join(out, " | ") + " |"
	},
	"rule": func(cells []string) string {
		return "|" + strings.Repeat("---|", len(cells))
	},
	"join": strings.Join,
}

var (
	mdTmpl   = template.Must(template.New("md").Funcs(funcs).Parse(mdText))
	htmlTmpl = htmltemplate.Must(htmltemplate.New("html").Funcs(htmltemplate.FuncMap{"join": strings.Join}).Parse(htmlText))
)

// Markdown writes the report as Markdown; charts are referenced as
// <id>.svg files beside it (renderInto writes them).
func Markdown(w io.Writer, r *record.Run) error {
	p, err := NewPage(r)
	if err != nil {
		return err
	}
	_, err = w.Write(p.Markdown)
	return err
}

// HTML writes the report as one self-contained HTML page: inline CSS and
// SVG charts, no scripts, fonts or external resources, so it opens
// offline and prints.
func HTML(w io.Writer, r *record.Run) error {
	p, err := NewPage(r)
	if err != nil {
		return err
	}
	_, err = w.Write(p.HTML)
	return err
}

// Page is everything rendered from one record.
type Page struct {
	HTML     []byte
	Markdown []byte
	Summary  []byte // summary.json
	Charts   []Chart
}

// NewPage renders r.
func NewPage(r *record.Run) (*Page, error) {
	charts, err := Charts(r)
	if err != nil {
		return nil, err
	}
	v := newView(r, charts)
	var md, h bytes.Buffer
	if err := mdTmpl.Execute(&md, v); err != nil {
		return nil, fmt.Errorf("render markdown report: %w", err)
	}
	if err := htmlTmpl.Execute(&h, v); err != nil {
		return nil, fmt.Errorf("render html report: %w", err)
	}
	sum, err := NewSummary(r, charts).JSON()
	if err != nil {
		return nil, err
	}
	return &Page{HTML: h.Bytes(), Markdown: md.Bytes(), Summary: sum, Charts: charts}, nil
}

// File names inside a run directory.
const (
	RecordFile   = "run.json"
	MarkdownFile = "report.md"
	HTMLFile     = "report.html"
	SummaryFile  = "summary.json"
	// SimRecordFile is the record's name in a `sluice sim` output directory.
	SimRecordFile = "record.json"
)

// DirName is a run directory's name: its UTC start time, sortable.
func DirName(start time.Time) string {
	return start.UTC().Format("20060102T150405.000Z")
}

// Save stores a run Jepsen-style: <root>/<scenario>/<UTC start>/ holding
// the record and both reports, then points <root>/<scenario>/latest and
// <root>/latest at it. It returns the run directory.
func Save(root string, r *record.Run) (string, error) {
	name := safeName(r.Scenario)
	dir := filepath.Join(root, name, DirName(r.Start))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("save run: %w", err)
	}
	b, err := record.Marshal(r)
	if err != nil {
		return "", err
	}
	if err := writeFile(filepath.Join(dir, RecordFile), b); err != nil {
		return "", err
	}
	if err := renderInto(dir, r); err != nil {
		return "", err
	}
	if err := link(filepath.Join(root, name, "latest"), DirName(r.Start)); err != nil {
		return dir, err
	}
	if err := link(filepath.Join(root, "latest"), filepath.Join(name, DirName(r.Start))); err != nil {
		return dir, err
	}
	return dir, nil
}

// Render reads dir's run record and writes its reports again (sluice
// report RUN_DIR). dir may also be the record file itself.
func Render(dir string) (*record.Run, error) {
	r, dir, err := Load(dir)
	if err != nil {
		return nil, err
	}
	return r, renderInto(dir, r)
}

// Load reads the run record of a run directory (run.json, or a
// simulation's record.json) or a record file, and returns it with the
// directory the reports go to.
func Load(path string) (*record.Run, string, error) {
	dir := path
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		path = filepath.Join(dir, RecordFile)
		if _, err := os.Stat(path); err != nil {
			if _, err2 := os.Stat(filepath.Join(dir, SimRecordFile)); err2 == nil {
				path = filepath.Join(dir, SimRecordFile)
			}
		}
	} else {
		dir = filepath.Dir(path)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, "", fmt.Errorf("open run record: %w", err)
	}
	defer f.Close()
	r, err := record.Decode(f)
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", path, err)
	}
	return r, dir, nil
}

// WriteReports renders r into dir: report.html, report.md with its
// <chart>.svg files, and summary.json. Every scenario run (Save) and
// `sluice sim` run calls it.
func WriteReports(dir string, r *record.Run) error { return renderInto(dir, r) }

func renderInto(dir string, r *record.Run) error {
	p, err := NewPage(r)
	if err != nil {
		return err
	}
	for _, c := range p.Charts {
		if err := writeFile(filepath.Join(dir, c.File()), []byte(c.Doc)); err != nil {
			return err
		}
	}
	if err := writeFile(filepath.Join(dir, SummaryFile), p.Summary); err != nil {
		return err
	}
	if err := writeFile(filepath.Join(dir, MarkdownFile), p.Markdown); err != nil {
		return err
	}
	return writeFile(filepath.Join(dir, HTMLFile), p.HTML)
}

func writeFile(path string, b []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// link points name at target (relative), replacing an older link.
func link(name, target string) error {
	tmp := name + ".tmp"
	os.Remove(tmp)
	if err := os.Symlink(target, tmp); err != nil {
		return fmt.Errorf("link %s: %w", name, err)
	}
	if err := os.Rename(tmp, name); err != nil {
		return fmt.Errorf("link %s: %w", name, err)
	}
	return nil
}

// safeName keeps a scenario name usable as one path element.
func safeName(s string) string {
	if s == "" || s == "." || s == ".." {
		return "unnamed"
	}
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
			return r
		}
		return '_'
	}, s)
}

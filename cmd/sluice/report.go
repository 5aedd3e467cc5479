package main

import (
	"flag"
	"fmt"
	"io"
	"path/filepath"

	"github.com/sluicehq/sluice/reports"
)

func init() {
	register("report", "render a stored run again: sluice report RUN_DIR (report.html, report.md, summary.json); sluice report --compare RUN_A RUN_B", runReport)
}

func runReport(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("report", flag.ContinueOnError)
	fs.SetOutput(stderr)
	compare := fs.Bool("compare", false, "render two runs side by side: sluice report --compare RUN_A RUN_B")
	out := fs.String("out", "", "with --compare: the directory for compare.html, compare.md and compare.json (default RUN_B/compare)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, `usage:
  sluice report RUN_DIR                 (a directory holding run.json or record.json, or the file itself)
  sluice report --compare [--out DIR] RUN_A RUN_B`)
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *compare {
		return reportCompare(fs, *out, stdout, stderr)
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return 2
	}
	r, dir, err := reports.Load(fs.Arg(0))
	if err == nil {
		err = reports.WriteReports(dir, r)
	}
	if err != nil {
		fmt.Fprintln(stderr, "sluice report:", err)
		return 1
	}
	verdict := "valid"
	if !r.Checker.Valid {
		verdict = "INVALID"
	}
	fmt.Fprintf(stdout, "%s (%s, %s): %s\n", r.Scenario, r.Kind, r.Start.Format("2006-01-02 15:04:05 UTC"), verdict)
	for _, f := range []string{reports.HTMLFile, reports.MarkdownFile, reports.SummaryFile} {
		fmt.Fprintln(stdout, filepath.Join(dir, f))
	}
	return 0
}

func reportCompare(fs *flag.FlagSet, out string, stdout, stderr io.Writer) int {
	if fs.NArg() != 2 {
		fs.Usage()
		return 2
	}
	a, dirA, err := reports.Load(fs.Arg(0))
	if err != nil {
		fmt.Fprintln(stderr, "sluice report:", err)
		return 1
	}
	b, dirB, err := reports.Load(fs.Arg(1))
	if err != nil {
		fmt.Fprintln(stderr, "sluice report:", err)
		return 1
	}
	nameA, nameB := runName(dirA), runName(dirB)
	if nameA == nameB {
		nameA, nameB = "A "+nameA, "B "+nameB
	}
	c, err := reports.Compare(a, b, nameA, nameB)
	if err != nil {
		fmt.Fprintln(stderr, "sluice report:", err)
		return 1
	}
	if out == "" {
		out = filepath.Join(dirB, "compare")
	}
	if err := c.WriteComparison(out); err != nil {
		fmt.Fprintln(stderr, "sluice report:", err)
		return 1
	}
	fmt.Fprintln(stdout, filepath.Join(out, reports.CompareHTMLFile))
	fmt.Fprintln(stdout, filepath.Join(out, reports.CompareMarkdownFile))
	return 0
}

// runName labels a run directory: <scenario>/<time> when stored by Save.
func runName(dir string) string {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return dir
	}
	if r, err := filepath.EvalSymlinks(abs); err == nil {
		abs = r
	}
	return filepath.Join(filepath.Base(filepath.Dir(abs)), filepath.Base(abs))
}

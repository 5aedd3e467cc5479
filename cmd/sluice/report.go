package main

import (
	"flag"
	"fmt"
	"io"
	"path/filepath"

	"github.com/sluicehq/sluice/reports"
)

func init() {
	register("report", "render a stored run again: sluice report RUN_DIR (writes report.md and report.html)", runReport)
}

func runReport(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("report", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: sluice report RUN_DIR   (a directory holding run.json, or the file itself)")
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return 2
	}
	dir := fs.Arg(0)
	r, err := reports.Render(dir)
	if err != nil {
		fmt.Fprintln(stderr, "sluice report:", err)
		return 1
	}
	if filepath.Base(dir) == reports.RecordFile {
		dir = filepath.Dir(dir)
	}
	verdict := "valid"
	if !r.Checker.Valid {
		verdict = "INVALID"
	}
	fmt.Fprintf(stdout, "%s (%s, %s): %s\n%s\n", r.Scenario, r.Kind, r.Start.Format("2006-01-02 15:04:05 UTC"), verdict,
		filepath.Join(dir, reports.MarkdownFile))
	fmt.Fprintln(stdout, filepath.Join(dir, reports.HTMLFile))
	return 0
}

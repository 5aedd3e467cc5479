package reports

import (
	"errors"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestScreenshot loads a rendered page in headless Chromium through
// scripts/screenshot.sh and checks the screenshot shows a page: the
// browser opened it offline (network off) and painted the verdict and the
// charts. It skips where Chromium is not installed.
func TestScreenshot(t *testing.T) {
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("no bash")
	}
	dir := t.TempDir()
	b, err := os.ReadFile(filepath.Join("testdata", "kill-primary.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, RecordFile), b, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Render(dir); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "shot.png")
	cmd := exec.Command("bash", filepath.Join("..", "scripts", "screenshot.sh"), "--no-render", dir, out, "1600")
	msg, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if errors.As(err, &ee) && ee.ExitCode() == 3 {
		t.Skipf("skipped: %s", msg)
	}
	if err != nil {
		t.Fatalf("screenshot.sh: %v\n%s", err, msg)
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	bd := img.Bounds()
	if bd.Dx() != 1280 || bd.Dy() != 1600 {
		t.Fatalf("screenshot is %v, want 1280x1600", bd.Size())
	}
	// A painted page: many colours, the green verdict badge (#e3f5e1) and
	// the charts' blue line (#0072b2) among them.
	colours := map[uint32]bool{}
	var verdict, line bool
	for y := bd.Min.Y; y < bd.Max.Y; y += 2 {
		for x := bd.Min.X; x < bd.Max.X; x++ {
			r, g, b, _ := img.At(x, y).RGBA()
			r, g, b = r>>8, g>>8, b>>8
			colours[r<<16|g<<8|b] = true
			verdict = verdict || (r == 0xe3 && g == 0xf5 && b == 0xe1)
			line = line || (r == 0x00 && g == 0x72 && b == 0xb2)
		}
	}
	if len(colours) < 50 || !verdict || !line {
		t.Errorf("screenshot does not show the page: %d colours, verdict badge %v, chart line %v", len(colours), verdict, line)
	}
}

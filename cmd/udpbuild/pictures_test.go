package main

import (
	"bytes"
	"context"
	"encoding/json"
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/udpbuild/udpbuild/internal/testenv"
	"github.com/udpbuild/udpbuild/report"
)

// TestExplainPictures: explain --svg and --html write their files beside
// the text, and a bad path is a clear error that leaves nothing behind.
func TestExplainPictures(t *testing.T) {
	dir := t.TempDir()
	svg, page := filepath.Join(dir, "f.svg"), filepath.Join(dir, "f.html")
	code, out, errOut := runCLI(t, "explain", "../../examples/fragmented.yaml", "--svg", svg, "--html", page)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if !strings.Contains(out, "maxfraglen") {
		t.Error("explain's text is missing")
	}
	for _, f := range []string{svg, page} {
		b, err := os.ReadFile(f)
		if err != nil || !bytes.Contains(b, []byte(`id="frame-2"`)) {
			t.Errorf("%s: %v, or it draws no frame-2", f, err)
		}
	}
	code, _, errOut = runCLI(t, "explain", "../../examples/fragmented.yaml", "--svg", filepath.Join(dir, "no", "such", "dir", "x.svg"))
	if code == 0 || !strings.Contains(errOut, "x.svg") {
		t.Errorf("a bad --svg path: exit %d, %q", code, errOut)
	}
}

// TestRunHTMLInChromium opens run --html's report in a real headless
// Chromium: the page's own script must have run and found every link
// (frames table to pictures, steps to pictures) resolving, and the
// screenshot must show a drawing, not a blank or error page.
func TestRunHTMLInChromium(t *testing.T) {
	chromium := testenv.NeedTool(t, "chromium", "chromium")
	dir := t.TempDir()
	page, rj := filepath.Join(dir, "report.html"), filepath.Join(dir, "report.json")
	code, _, errOut := runCLI(t, "run", "../../examples/ipv6-fragmented.yaml", "--html", page, "--report", rj)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var rep report.Report
	if b, err := os.ReadFile(rj); err != nil || json.Unmarshal(b, &rep) != nil || len(rep.Frames) == 0 {
		t.Fatalf("the run's report: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// A profile of its own, so that nothing of the user's is touched.
	flags := []string{"--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--user-data-dir=" + filepath.Join(dir, "profile"), "--window-size=1100,1400"}
	dom, err := exec.CommandContext(ctx, chromium, append(flags, "--dump-dom", "file://"+page)...).Output()
	if err != nil {
		t.Fatalf("chromium --dump-dom: %v", err)
	}
	body := regexp.MustCompile(`<body[^>]*>`).Find(dom)
	if !bytes.Contains(body, []byte(`data-rendered="1"`)) || !bytes.Contains(body, []byte(`data-links="ok"`)) {
		t.Fatalf("the page's check did not pass in Chromium: %s", body)
	}
	if n := bytes.Count(dom, []byte(`class="frame"`)); n != len(rep.Frames) {
		t.Errorf("Chromium's DOM has %d frame pictures, the run %d frames", n, len(rep.Frames))
	}
	// The check itself must be able to fail: the same page with one
	// dangling link.
	b, err := os.ReadFile(page)
	if err != nil {
		t.Fatal(err)
	}
	broken := filepath.Join(dir, "broken.html")
	if err := os.WriteFile(broken, bytes.Replace(b, []byte("<h2>Frames</h2>"), []byte(`<h2>Frames</h2><a href="#frame-99999">x</a>`), 1), 0o644); err != nil {
		t.Fatal(err)
	}
	dom, err = exec.CommandContext(ctx, chromium, append(flags, "--dump-dom", "file://"+broken)...).Output()
	if err != nil {
		t.Fatalf("chromium --dump-dom: %v", err)
	}
	if body := regexp.MustCompile(`<body[^>]*>`).Find(dom); !bytes.Contains(body, []byte(`data-links="missing frame-99999"`)) {
		t.Fatalf("a dangling link went unnoticed: %s", body)
	}
	shot := filepath.Join(dir, "shot.png")
	if out, err := exec.CommandContext(ctx, chromium, append(flags, "--screenshot="+shot, "file://"+page)...).CombinedOutput(); err != nil {
		t.Fatalf("chromium --screenshot: %v\n%s", err, out)
	}
	f, err := os.Open(shot)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("the screenshot is no PNG: %v", err)
	}
	if colours := distinctColours(img, 64); colours < 8 {
		t.Errorf("the screenshot has %d colours: a blank page, not a report", colours)
	}
}

// distinctColours counts the colours of img, up to limit.
func distinctColours(img image.Image, limit int) int {
	seen := map[[3]uint32]bool{}
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y += 3 {
		for x := b.Min.X; x < b.Max.X; x += 3 {
			r, g, bl, _ := img.At(x, y).RGBA()
			seen[[3]uint32{r >> 8, g >> 8, bl >> 8}] = true
			if len(seen) >= limit {
				return len(seen)
			}
		}
	}
	return len(seen)
}

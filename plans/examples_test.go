package plans

import (
	"path/filepath"
	"testing"
)

func TestExamplesLoad(t *testing.T) {
	files, err := filepath.Glob("examples/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 4 {
		t.Fatalf("found %d examples, want at least 4", len(files))
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			p, warns, err := LoadFile(f)
			if err != nil {
				t.Fatalf("load: %v", err)
			}
			for _, w := range warns {
				t.Errorf("unexpected warning: %s", w)
			}
			if p.Spec.App == "" || len(p.Spec.Steps) == 0 {
				t.Errorf("plan %s lost its app or steps", f)
			}
		})
	}
}

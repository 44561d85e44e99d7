package main

import "testing"

func TestParseCPUTicks(t *testing.T) {
	tests := []struct {
		name string
		line string
		want cpuTicks
	}{
		{"kernel line", "cpu  100 5 20 800 10 1 2 62 0 0", cpuTicks{total: 1000, steal: 62}},
		{"no steal field", "cpu  100 5 20 800 10 1 2", cpuTicks{}},
		{"a single CPU's line", "cpu0 100 5 20 800 10 1 2 62 0 0", cpuTicks{}},
		{"not a number", "cpu  100 5 20 x 10 1 2 62", cpuTicks{}},
		{"empty", "", cpuTicks{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := parseCPUTicks(tt.line); got != tt.want {
				t.Errorf("parseCPUTicks(%q) = %+v, want %+v", tt.line, got, tt.want)
			}
		})
	}
}

func TestStolen(t *testing.T) {
	tests := []struct {
		name string
		a, b cpuTicks
		want string
	}{
		{"a third stolen", cpuTicks{1000, 100}, cpuTicks{4000, 1100}, "33 %"},
		{"none stolen", cpuTicks{1000, 100}, cpuTicks{2000, 100}, "0 %"},
		{"unreadable at the end", cpuTicks{1000, 100}, cpuTicks{}, "—"},
		{"no time passed", cpuTicks{1000, 100}, cpuTicks{1000, 100}, "—"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := stolen(tt.a, tt.b); got != tt.want {
				t.Errorf("stolen(%+v, %+v) = %q, want %q", tt.a, tt.b, got, tt.want)
			}
		})
	}
}

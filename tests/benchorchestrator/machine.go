package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// What the machine was doing around a run: its load and the CPU its
// hypervisor gave to other guests.

// cpuTicks is the machine's CPU time from /proc/stat, all of it and the
// part its hypervisor gave to other guests (steal), in clock ticks.
type cpuTicks struct{ total, steal uint64 }

// readCPUTicks reads cpuTicks; the zero value when /proc/stat is unreadable.
func readCPUTicks() cpuTicks {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return cpuTicks{}
	}
	line, _, _ := strings.Cut(string(b), "\n")
	return parseCPUTicks(line)
}

// parseCPUTicks reads the aggregate "cpu" line of /proc/stat: user nice
// system idle iowait irq softirq steal …; steal is the eighth field.
func parseCPUTicks(line string) cpuTicks {
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return cpuTicks{}
	}
	var t cpuTicks
	for i, v := range f[1:9] {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return cpuTicks{}
		}
		t.total += n
		if i == 7 {
			t.steal = n
		}
	}
	return t
}

// stolen is the share of the machine's CPU time between a and b that its
// hypervisor gave to other guests, "—" when unknown. A run on a host whose
// other guests take a third of the CPU is not comparable with one on a
// quiet host.
func stolen(a, b cpuTicks) string {
	if b.total <= a.total || b.steal < a.steal {
		return "—"
	}
	return fmt.Sprintf("%.0f %%", 100*float64(b.steal-a.steal)/float64(b.total-a.total))
}

// loadAvg is the first three fields of /proc/loadavg.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

// Command chaos runs rollouts on a stack of separate processes (Temporal
// dev server on a database file, worker, gateway, two demo agents, load)
// and kills them with SIGKILL at chosen and at random moments: the worker
// during a pause, an analysis, a gate, a reset and right after an abort;
// the gateway during a weight change; Temporal. After each rollout it
// checks the final phase, the gateway's weights against it, that approvals
// were counted once and that nothing is stuck, and prints a table of fault
// × count × correct, with the time to 0% canary with and without a kill.
// It also runs the five metric-endpoint failures. `make chaos` runs it.
package main

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/coalmine-dev/coalmine/tests/testenv"
)

// token is the gateway admin token of the run.
const token = "chaos-token"

func main() {
	seed := flag.Uint64("seed", uint64(time.Now().UnixNano()), "random seed (printed; pass it again to repeat a run's choices)")
	rounds := flag.Int("rounds", 5, "rounds of every scenario")
	budget := flag.Duration("budget", 14*time.Minute, "start no new round after this long")
	minKills := flag.Int("min-kills", 50, "keep running rounds (within the budget) until this many kills")
	keep := flag.Bool("keep", false, "keep the run's directory (logs, databases)")
	flag.Parse()
	if err := run(*seed, *rounds, *minKills, *budget, *keep); err != nil {
		fmt.Fprintln(os.Stderr, "chaos:", err)
		os.Exit(1)
	}
}

func run(seed uint64, rounds, minKills int, budget time.Duration, keep bool) error {
	fmt.Printf("chaos: seed %d (repeat with -seed %d)\n", seed, seed)
	dir, err := os.MkdirTemp("", "coalmine-chaos-")
	if err != nil {
		return err
	}
	if keep {
		fmt.Println("chaos: run directory", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	coalmine, err := testenv.BuildCoalmine(dir)
	if err != nil {
		return err
	}
	temporalCLI, err := testenv.TemporalCLI()
	if err != nil {
		return err
	}
	ms, err := startMetricServer()
	if err != nil {
		return err
	}
	defer ms.Close()
	apps := make([]string, 0, 400)
	for i := range 400 {
		apps = append(apps, fmt.Sprintf("chaos-%03d", i))
	}
	s, err := newStack(dir, coalmine, temporalCLI, apps)
	if err != nil {
		return err
	}
	defer s.stop()
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-sigs
		s.stop()
		os.Exit(1)
	}()
	h, err := newHarness(s, ms.URL, rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), apps)
	if err != nil {
		return err
	}
	defer h.close()
	go h.load(filepath.Join(dir, "load"))

	start := time.Now()
	for _, sc := range metricFailures() {
		h.runScenario(sc)
	}
	for round := 1; round <= rounds || h.kills < minKills; round++ {
		if time.Since(start) > budget {
			fmt.Printf("chaos: budget of %s reached after %d rounds\n", budget, round-1)
			break
		}
		for _, sc := range h.shuffled(scenarios()) {
			h.runScenario(sc)
		}
	}
	h.report(os.Stdout, time.Since(start))
	if h.wrong > 0 {
		return fmt.Errorf("%d rollouts ended wrong (see above)", h.wrong)
	}
	return nil
}

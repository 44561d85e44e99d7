package plans_test

// The metric providers register their plan blocks from their own package
// (activities/metrics' providers table). Linking it here makes them known
// to every test of plans, as they are to the worker and the CLI.
import _ "github.com/coalmine-dev/coalmine/activities/metrics"

package plans

import "time"

// minVerifyInterval is the shortest traffic.verifyInterval: each look is an
// activity and a timer in the rollout's history.
const minVerifyInterval = time.Second

// verifyInterval checks traffic.verifyInterval: 0 (off) or at least a second.
func (c *checker) verifyInterval(path string, d *Duration) {
	if d == nil || d.Duration == 0 {
		return
	}
	if d.Duration < minVerifyInterval {
		c.errorf(path, "write 0s to turn it off, or a duration such as 30s", "verifyInterval %s is shorter than %s", d.Duration, minVerifyInterval)
	}
}

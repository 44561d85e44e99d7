package gateway

import (
	"sync"
	"time"
)

// maxPinsPerRoute bounds the memory pinning may use; beyond it new sessions
// are split without being pinned until idle pins expire.
const maxPinsPerRoute = 1 << 20

// pins remembers, per sticky key, the version a session started on and when
// it was last seen. A pin is honoured only while it is younger than the TTL
// and while the route still has that version.
type pins struct {
	mu sync.Mutex
	m  map[string]pin
}

type pin struct {
	version string
	seen    time.Time
}

func newPins() *pins { return &pins{m: make(map[string]pin)} }

// lookup returns the pinned version of key if the pin is still live and
// refreshes it.
func (p *pins) lookup(key string, now time.Time, ttl time.Duration) (string, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	e, ok := p.m[key]
	if !ok {
		return "", false
	}
	if now.Sub(e.seen) > ttl {
		delete(p.m, key)
		return "", false
	}
	e.seen = now
	p.m[key] = e
	return e.version, true
}

// set pins key to version.
func (p *pins) set(key, version string, now time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.m[key]; !ok && len(p.m) >= maxPinsPerRoute {
		return
	}
	p.m[key] = pin{version: version, seen: now}
}

// reset forgets every pin.
func (p *pins) reset() {
	p.mu.Lock()
	defer p.mu.Unlock()
	clear(p.m)
}

// sweep removes pins idle for longer than ttl.
func (p *pins) sweep(now time.Time, ttl time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for k, e := range p.m {
		if now.Sub(e.seen) > ttl {
			delete(p.m, k)
		}
	}
}

func (p *pins) len() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.m)
}

package plans

// Check checks the httproute router's block: the HTTPRoute and its two Services.
func (h *HTTPRouteTraffic) Check(f Fields, path string) {
	f.Need(path, "name", h.Name, "name: voice-agent")
	f.Need(path, "stableService", h.StableService, "stableService: voice-agent")
	f.Need(path, "canaryService", h.CanaryService, "canaryService: voice-agent-canary")
}

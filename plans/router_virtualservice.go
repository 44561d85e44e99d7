package plans

// Check checks the virtualservice router's block: the VirtualService, the
// stable host, and a canary host or a pair of subsets.
func (v *VirtualServiceTraffic) Check(f Fields, path string) {
	f.Need(path, "name", v.Name, "name: voice-agent")
	f.Need(path, "stableHost", v.StableHost, "stableHost: voice-agent")
	if v.CanaryHost == "" && (v.StableSubset == "" || v.CanarySubset == "") {
		f.Errorf(path, "add canaryHost: voice-agent-canary, or stableSubset and canarySubset",
			"the canary destination needs canaryHost or a pair of subsets")
	}
}

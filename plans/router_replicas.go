package plans

// Check checks the replicas router's block: the stable Deployment.
func (r *ReplicasTraffic) Check(f Fields, path string) {
	f.Need(path, "stableDeployment", r.StableDeployment, "stableDeployment: voice-agent")
}

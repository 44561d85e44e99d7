package plans

// Check checks the gateway router's block: the admin API's URL, the
// name of the token's environment variable and how to find its replicas.
func (g *GatewayTraffic) Check(f Fields, path string) {
	f.URL(path+".url", "url", g.URL, "url: http://127.0.0.1:8480")
	f.EnvName(path+".tokenEnv", g.TokenEnv)
	f.c.gatewayReplicas(path+".replicas", g.Replicas)
}

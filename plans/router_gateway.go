package plans

// Check checks the gateway router's block: the admin API's URL and the
// name of the token's environment variable.
func (g *GatewayTraffic) Check(f Fields, path string) {
	f.URL(path+".url", "url", g.URL, "url: http://127.0.0.1:8480")
	f.EnvName(path+".tokenEnv", g.TokenEnv)
}

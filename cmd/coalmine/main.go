// Command coalmine canaries new versions of AI agents, LLM models and prompts
// as durable Temporal workflows. Run `coalmine --help` for the commands.
package main

import (
	"os"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

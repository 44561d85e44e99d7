// Command image builds coalmine's OCI image without a container daemon,
// and checks a built image by unpacking its layers and running the binary
// from them (for machines where no container runtime runs).
//
//	image build -binary dist/image/coalmine -out dist/coalmine-image -ref coalmine:dev
//	image check -layout dist/coalmine-image
//
// The image holds one layer: the static coalmine binary at
// /usr/local/bin/coalmine, the CA certificates of the build machine (for
// TLS to Temporal Cloud and LLM providers), /etc/passwd and /etc/group
// naming the non-root user 65532, and /tmp. There is no shell.
package main

import (
	"errors"
	"fmt"
	"os"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintf(os.Stderr, "image: %v\n", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) == 0 {
		return errors.New("give a command: build or check")
	}
	switch args[0] {
	case "build":
		return runBuild(args[1:])
	case "check":
		return runCheck(args[1:])
	}
	return fmt.Errorf("unknown command %q: give build or check", args[0])
}

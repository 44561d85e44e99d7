//go:build tools

// Package devserver pins the Temporal CLI whose dev server `make tools` builds.
package devserver

import _ "github.com/temporalio/cli/cmd/temporal"

//go:build !linux

package devstack

import "syscall"

// devServerProcAttr puts the Temporal dev server in a process group of its
// own, so that Ctrl-C reaches coalmine, which stops the server in order.
// Only Linux can also stop it when coalmine dies without stopping it.
func devServerProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}

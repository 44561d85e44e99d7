package devstack

import "syscall"

// devServerProcAttr puts the Temporal dev server in a process group of its
// own, so that Ctrl-C reaches coalmine, which stops the server in order;
// and has the kernel send it SIGTERM when coalmine dies without stopping
// it (kill -9, a crash), so no server outlives the dev stack.
func devServerProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
}

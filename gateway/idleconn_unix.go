//go:build unix && !aix

package gateway

import (
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

// idleUsable reports whether an idle backend connection can carry another
// request: the backend has not closed it and has sent nothing unasked. It
// looks without blocking and without taking any byte.
func idleUsable(c net.Conn) bool {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return true
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	usable := false
	if err := rc.Read(func(fd uintptr) bool {
		usable = fdUsable(int(fd))
		return true
	}); err != nil {
		return false
	}
	return usable
}

// fdUsable is idleUsable on a socket's descriptor.
func fdUsable(fd int) bool {
	var b [1]byte
	for {
		_, _, err := unix.Recvfrom(fd, b[:], unix.MSG_PEEK|unix.MSG_DONTWAIT)
		if err != unix.EINTR {
			// Nothing to read is the one good answer: a byte is one nobody
			// asked for, zero bytes is the backend's close, and an error a
			// broken one.
			return err == unix.EAGAIN || err == unix.EWOULDBLOCK
		}
	}
}

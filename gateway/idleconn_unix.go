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
	var rerr error
	var buf [1]byte
	if err := rc.Read(func(fd uintptr) bool {
		for {
			_, _, rerr = unix.Recvfrom(int(fd), buf[:], unix.MSG_PEEK|unix.MSG_DONTWAIT)
			if rerr != unix.EINTR {
				return true
			}
		}
	}); err != nil {
		return false
	}
	// Nothing to read is the one good answer: a byte is one nobody asked
	// for, zero bytes is the backend's close, and an error a broken one.
	return rerr == unix.EAGAIN || rerr == unix.EWOULDBLOCK
}

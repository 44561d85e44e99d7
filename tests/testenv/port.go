package testenv

import (
	"errors"
	"math/rand/v2"
	"net"
	"strconv"
	"syscall"
	"testing"
)

// FreePort returns a loopback port that nothing listens on now, below the
// kernel's ephemeral range (32768 and up here), where a connection in
// TIME-WAIT can hold a port that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	for range 100 {
		p := 20000 + rand.IntN(12000)
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if errors.Is(err, syscall.EADDRINUSE) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		l.Close()
		return p
	}
	t.Fatal("no free loopback port in 20000-32000")
	return 0
}

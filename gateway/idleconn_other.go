//go:build !unix || aix

package gateway

import "net"

// idleUsable reports whether an idle backend connection can carry another
// request. Without a way to look at the socket it assumes so; a request
// that then fails before any of it left is sent again (see
// upstream.roundTrip).
func idleUsable(net.Conn) bool { return true }

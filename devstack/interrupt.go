package devstack

import "context"

// Interrupted returns ctx's error once ctx has ended, whatever err says,
// and err otherwise. After the caller cancels (Ctrl-C), what a client
// library returns — a gRPC "canceled" status, a closed connection, or nil
// from a loop that simply stopped — is a consequence of the interrupt, not
// a failure of its own, and must read as one: errors.Is(err,
// context.Canceled) then holds for every path that stops a command.
func Interrupted(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

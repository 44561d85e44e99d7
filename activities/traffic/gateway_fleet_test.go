package traffic_test

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/coalmine-dev/coalmine/activities/traffic"
	"github.com/coalmine-dev/coalmine/plans"
)

// deadURL is an admin URL nothing listens on.
func deadURL(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "http://" + addr
}

// TestGatewayRouterConfirmsEveryReplica runs two gateways that do not
// share state: a change written to one is never reported by the other, so
// the router fails the change naming the replica that did not confirm.
func TestGatewayRouterConfirmsEveryReplica(t *testing.T) {
	a, b := startGateway(t), startGateway(t)
	in := a.input()
	in.Traffic.Block.(*traffic.GatewayTraffic).Replicas = &plans.GatewayReplicas{URLs: []string{a.admin, b.admin}, ConfirmTimeout: plans.Duration{Duration: 500 * time.Millisecond}}
	r, err := registry(map[string]string{"GW_TOKEN": token}).Router(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	err = r.SetWeight(context.Background(), 25)
	if err == nil {
		t.Fatal("a change that one replica never reported completed")
	}
	for _, want := range []string{"1 of 2 gateway replicas did not report it", b.admin + " (still at generation 0)", "confirmed on " + a.admin} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if got := a.route(t).CanaryWeightBP; got != 2500 {
		t.Fatalf("the replica written to serves %d bp, want 2500", got)
	}
}

// TestGatewayRollbackReachesTheReplicasThatAreUp: with the admin URL down,
// the split is read and the rollback written through a replica that is
// up, and the error names the one that is not.
func TestGatewayRollbackReachesTheReplicasThatAreUp(t *testing.T) {
	live := startGateway(t)
	dead := deadURL(t)
	in := live.input()
	in.Traffic.Block.(*traffic.GatewayTraffic).URL = dead
	in.Traffic.Block.(*traffic.GatewayTraffic).Replicas = &plans.GatewayReplicas{URLs: []string{dead, live.admin}, ConfirmTimeout: plans.Duration{Duration: 500 * time.Millisecond}}
	r, err := registry(map[string]string{"GW_TOKEN": token}).Router(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	err = r.SetWeight(context.Background(), 40)
	if err == nil || !strings.Contains(err.Error(), dead+" (unreachable") || !strings.Contains(err.Error(), "confirmed on "+live.admin) {
		t.Fatalf("set weight with one replica down: %v", err)
	}
	if got := live.route(t).CanaryWeightBP; got != 4000 {
		t.Fatalf("the live replica serves %d bp, want 4000", got)
	}
	if st, err := r.Read(context.Background()); err != nil || st.CanaryWeight != 40 {
		t.Fatalf("read with the admin URL down: %+v, %v; want 40%% read from the live replica", st, err)
	}
	err = r.Reset(context.Background())
	if err == nil || !strings.Contains(err.Error(), dead) {
		t.Fatalf("rollback with one replica down: %v", err)
	}
	if got := live.route(t).CanaryWeightBP; got != 0 {
		t.Fatalf("after the rollback the live replica serves %d bp to the canary, want 0", got)
	}
}

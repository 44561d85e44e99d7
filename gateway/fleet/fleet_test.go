package fleet_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/coalmine-dev/coalmine/gateway/fleet"
	"github.com/coalmine-dev/coalmine/plans"
)

func TestFind(t *testing.T) {
	tests := []struct {
		name     string
		replicas *plans.GatewayReplicas
		want     []string
		err      error
	}{
		{"no block: the one gateway", nil, []string{"http://gw:8480"}, nil},
		{"urls, sorted and deduplicated", &plans.GatewayReplicas{URLs: []string{"http://b:1", "http://a:1", "http://b:1"}}, []string{"http://a:1", "http://b:1"}, nil},
		{"dns takes the url's scheme and port", &plans.GatewayReplicas{DNS: "localhost"}, []string{"http://127.0.0.1:8480"}, nil},
		{"service without a cluster", &plans.GatewayReplicas{Service: &plans.GatewayService{Name: "gw"}}, nil, fleet.ErrNoCluster},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := fleet.Finder{}.Find(context.Background(), "http://gw:8480", tt.replicas)
			if !errors.Is(err, tt.err) {
				t.Fatalf("error %v, want %v", err, tt.err)
			}
			if tt.name == "dns takes the url's scheme and port" {
				// localhost may also resolve to ::1
				got = slices.DeleteFunc(got, func(u string) bool { return u == "http://[::1]:8480" })
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("replicas %v, want %v", got, tt.want)
			}
		})
	}
}

//go:build k8s

package fleet_test

import (
	"context"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/coalmine-dev/coalmine/gateway/fleet"
	"github.com/coalmine-dev/coalmine/plans"
	"github.com/coalmine-dev/coalmine/tests/k8s/kubetest"
)

// TestFindFromEndpointSlices reads the admin Service's EndpointSlices from
// a real API server: ready endpoints on the admin port, nothing else.
func TestFindFromEndpointSlices(t *testing.T) {
	cs := kubernetes.NewForConfigOrDie(kubetest.APIServer(t))
	ctx := context.Background()
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "coalmine"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	yes, no := true, false
	admin, traffic := "admin", "http"
	adminPort, trafficPort := int32(8480), int32(8080)
	slice := func(name string, eps ...discoveryv1.Endpoint) {
		t.Helper()
		_, err := cs.DiscoveryV1().EndpointSlices("coalmine").Create(ctx, &discoveryv1.EndpointSlice{
			ObjectMeta:  metav1.ObjectMeta{Name: name, Labels: map[string]string{discoveryv1.LabelServiceName: "coalmine-gateway-admin"}},
			AddressType: discoveryv1.AddressTypeIPv4,
			Ports:       []discoveryv1.EndpointPort{{Name: &admin, Port: &adminPort}, {Name: &traffic, Port: &trafficPort}},
			Endpoints:   eps,
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
	}
	slice("a", discoveryv1.Endpoint{Addresses: []string{"10.0.0.1"}, Conditions: discoveryv1.EndpointConditions{Ready: &yes}},
		discoveryv1.Endpoint{Addresses: []string{"10.0.0.2"}, Conditions: discoveryv1.EndpointConditions{Ready: &no}})
	slice("b", discoveryv1.Endpoint{Addresses: []string{"10.0.0.3"}})
	f := fleet.Finder{Kube: func() (kubernetes.Interface, error) { return cs, nil }}
	got, err := f.Find(ctx, "http://coalmine-gateway-admin.coalmine:8480", &plans.GatewayReplicas{
		Service: &plans.GatewayService{Namespace: "coalmine", Name: "coalmine-gateway-admin", Port: "admin"}})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"http://10.0.0.1:8480", "http://10.0.0.3:8480"}
	if !slices.Equal(got, want) {
		t.Fatalf("replicas %v, want %v (the not-ready 10.0.0.2 left out)", got, want)
	}
	_, err = f.Find(ctx, "http://x:8480", &plans.GatewayReplicas{Service: &plans.GatewayService{Namespace: "coalmine", Name: "none", Port: "admin"}})
	if err == nil {
		t.Fatal("a Service without endpoints gave replicas")
	}
}

package workers

import (
	"log/slog"
	"os"

	"k8s.io/client-go/kubernetes"

	"github.com/coalmine-dev/coalmine/activities"
	"github.com/coalmine-dev/coalmine/activities/metrics"
	"github.com/coalmine-dev/coalmine/activities/notify"
	"github.com/coalmine-dev/coalmine/activities/traffic"
	"github.com/coalmine-dev/coalmine/activities/workload"
)

// DefaultActivities builds the activities with every built-in traffic
// router and metric provider. getenv reads the secrets plans name (nil
// reads the process environment); notifications are logged. The
// Kubernetes routers and the canary workload lifecycle find their cluster
// on first use: in-cluster configuration, else $KUBECONFIG or
// ~/.kube/config.
func DefaultActivities(logger *slog.Logger, getenv func(string) string) *activities.Activities {
	return KubeActivities(logger, getenv, traffic.LazyKube("", ""))
}

// KubeActivities is DefaultActivities on the cluster kube connects to
// (traffic.LazyKube with the worker's --kubeconfig and --context).
//
// What coalmine does on a cluster, and so the verbs its service account
// needs (deploy/base/rbac.yaml grants exactly these):
//
//	httproutes.gateway.networking.k8s.io     get, list, watch, update   (httproute router)
//	virtualservices.networking.istio.io      get, list, watch, update   (virtualservice router)
//	deployments.apps                         get, list, watch, update   (replicas router, workload lifecycle)
//	deployments.apps/scale                   get, update                (replicas router, canary scale-down)
//	deployments.apps                         create, delete             (workload lifecycle: the <name>-canary Deployment)
//	replicasets.apps                         get, list                  (workload lifecycle: the template a rollback restores)
//	endpointslices.discovery.k8s.io          list                       (gateway router and provider: replicas.service)
func KubeActivities(logger *slog.Logger, getenv func(string) string, kube traffic.KubeFactory) *activities.Activities {
	if logger == nil {
		logger = slog.Default()
	}
	if getenv == nil {
		getenv = os.Getenv
	}
	typed := func() (kubernetes.Interface, error) {
		k, err := kube()
		return k.Typed, err
	}
	return &activities.Activities{
		Routers:   traffic.NewRegistry(traffic.Deps{Getenv: getenv, Kube: kube}),
		Metrics:   metrics.NewRegistry(metrics.Options{Getenv: getenv, Logger: logger, Kube: typed}),
		Notifier:  notify.Log{Logger: logger},
		Logger:    logger,
		Workloads: &workload.Manager{Logger: logger, Kube: typed},
	}
}

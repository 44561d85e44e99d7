package kubetest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// KwokModule is the kwok version whose default stages the cluster uses.
const KwokModule = "sigs.k8s.io/kwok@v0.8.0"

// kwokStages are kwok's default stages: nodes that become Ready and keep
// their lease, pods that become Ready, complete and go away.
func kwokStages() []string {
	return []string{
		"kustomize/stage/node/fast/node-initialize.yaml",
		"kustomize/stage/node/heartbeat-with-lease/node-heartbeat-with-lease.yaml",
		"kustomize/stage/pod/fast/pod-ready.yaml",
		"kustomize/stage/pod/fast/pod-complete.yaml",
		"kustomize/stage/pod/fast/pod-delete.yaml",
	}
}

// Cluster is a control plane whose Deployments really roll out: etcd and
// kube-apiserver (envtest), kube-controller-manager, kube-scheduler and
// kwok, which runs the pods of fake nodes.
type Cluster struct {
	// Config is an admin configuration.
	Config *rest.Config
	// Kubeconfig is a file holding Config.
	Kubeconfig string
	// Client is a client with Config.
	Client kubernetes.Interface
}

// Kwok starts a cluster with one fake node, the Gateway API and Istio CRDs
// installed, and stops it, in reverse order, when the test ends.
func Kwok(t testing.TB) *Cluster {
	t.Helper()
	bin := BinDir(t, "etcd", "kube-apiserver", "kubectl", "kube-controller-manager", "kube-scheduler", "kwok")
	start := time.Now()
	env := &envtest.Environment{
		BinaryAssetsDirectory:    bin,
		CRDDirectoryPaths:        CRDPaths(t),
		ErrorIfCRDPathMissing:    true,
		ControlPlaneStartTimeout: time.Minute,
		ControlPlaneStopTimeout:  time.Minute,
	}
	cfg, err := env.Start()
	if err != nil {
		t.Fatalf("start the test API server: %v", err)
	}
	t.Cleanup(func() {
		if err := env.Stop(); err != nil {
			t.Errorf("stop the test API server: %v", err)
		}
	})
	kubeconfig := Kubeconfig(t, cfg)
	dir := t.TempDir()

	var stages bytes.Buffer
	kwokDir := ModuleDir(t, KwokModule)
	for _, s := range kwokStages() {
		b, err := os.ReadFile(filepath.Join(kwokDir, s))
		if err != nil {
			t.Fatal(err)
		}
		stages.WriteString("---\n")
		stages.Write(b)
		stages.WriteString("\n")
	}
	stagesFile := filepath.Join(dir, "kwok.yaml")
	if err := os.WriteFile(stagesFile, stages.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}

	procs := []*proc{run(t, dir, filepath.Join(bin, "kube-controller-manager"),
		"--kubeconfig="+kubeconfig, "--authentication-kubeconfig="+kubeconfig, "--authorization-kubeconfig="+kubeconfig,
		"--leader-elect=false", "--secure-port=0", "--use-service-account-credentials=false",
		"--controllers=deployment-controller,replicaset-controller,garbage-collector-controller,node-lifecycle-controller", "--concurrent-deployment-syncs=10", "--concurrent-replicaset-syncs=10"),
		run(t, dir, filepath.Join(bin, "kube-scheduler"),
			"--kubeconfig="+kubeconfig, "--authentication-kubeconfig="+kubeconfig, "--authorization-kubeconfig="+kubeconfig,
			"--leader-elect=false", "--secure-port=0"),
		run(t, dir, filepath.Join(bin, "kwok"),
			"--kubeconfig="+kubeconfig, "--config="+stagesFile, "--manage-all-nodes=false",
			"--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake", "--server-address=", "--node-lease-duration-seconds=40"),
	}

	k, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	addNode(t, k, "kwok-node-0")
	for _, p := range procs {
		p.alive(t)
	}
	t.Logf("kwok cluster up in %v", time.Since(start).Round(time.Millisecond))
	return &Cluster{Config: cfg, Kubeconfig: kubeconfig, Client: k}
}

// proc is a running control-plane process.
type proc struct {
	name, log string
	exited    chan error
}

// alive fails the test when the process has exited (a bad flag, a crash).
func (p *proc) alive(t testing.TB) {
	t.Helper()
	select {
	case err := <-p.exited:
		p.exited <- err
		b, _ := os.ReadFile(p.log)
		t.Fatalf("%s exited: %v\n%s", p.name, err, tail(b))
	default:
	}
}

func tail(b []byte) []byte {
	if len(b) > 4000 {
		return b[len(b)-4000:]
	}
	return b
}

// run starts a control-plane process whose output goes to a log file in
// dir; at the end of the test it is stopped with SIGTERM and waited for.
// Cleanups run last-in first-out, so processes stop in reverse order.
func run(t testing.TB, dir, path string, args ...string) *proc {
	t.Helper()
	p := &proc{name: filepath.Base(path), log: filepath.Join(dir, filepath.Base(path)+".log"), exited: make(chan error, 1)}
	log, err := os.Create(p.log)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(path, args...)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.Env = append(os.Environ(), "KUBECACHEDIR="+filepath.Join(dir, "cache"), "HOME="+dir)
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", path, err)
	}
	go func() { p.exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.exited:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			<-p.exited
		}
		_ = log.Close()
		if t.Failed() {
			if b, err := os.ReadFile(p.log); err == nil {
				t.Logf("last output of %s:\n%s", p.name, tail(b))
			}
		}
	})
	return p
}

// addNode registers a fake node that kwok manages, without taints.
func addNode(t testing.TB, k kubernetes.Interface, name string) {
	t.Helper()
	res := corev1.ResourceList{
		corev1.ResourceCPU:    resource.MustParse("32"),
		corev1.ResourceMemory: resource.MustParse("256Gi"),
		corev1.ResourcePods:   resource.MustParse("110"),
	}
	n := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name:        name,
			Annotations: map[string]string{"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
			Labels:      map[string]string{"kubernetes.io/hostname": name, "type": "kwok"},
		},
		Status: corev1.NodeStatus{Allocatable: res, Capacity: res},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := k.CoreV1().Nodes().Create(ctx, n, metav1.CreateOptions{}); err != nil {
		t.Fatalf("add node %s: %v", name, err)
	}
	ready := func(n *corev1.Node) bool {
		for _, c := range n.Status.Conditions {
			if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
				return true
			}
		}
		return false
	}
	list, err := k.CoreV1().Nodes().List(ctx, metav1.ListOptions{FieldSelector: "metadata.name=" + name})
	if err != nil {
		t.Fatalf("node %s: %v", name, err)
	}
	if len(list.Items) == 1 && ready(&list.Items[0]) {
		return
	}
	w, err := k.CoreV1().Nodes().Watch(ctx, metav1.ListOptions{FieldSelector: "metadata.name=" + name, ResourceVersion: list.ResourceVersion})
	if err != nil {
		t.Fatalf("watch node %s: %v", name, err)
	}
	defer w.Stop()
	for {
		select {
		case ev, ok := <-w.ResultChan():
			if !ok {
				t.Fatalf("node %s: the watch ended before it was Ready", name)
			}
			if n, isNode := ev.Object.(*corev1.Node); isNode && ready(n) {
				return
			}
		case <-ctx.Done():
			t.Fatalf("node %s never became Ready (kwok manages nodes annotated kwok.x-k8s.io/node=fake)", name)
		}
	}
}

// String describes the cluster for logs.
func (c *Cluster) String() string { return fmt.Sprintf("kwok cluster at %s", c.Config.Host) }

// Dump logs the Deployments, ReplicaSets, pods and events of a namespace,
// for a failed test.
func Dump(t testing.TB, k kubernetes.Interface, ns string) {
	t.Helper()
	ctx := context.Background()
	if ds, err := k.AppsV1().Deployments(ns).List(ctx, metav1.ListOptions{}); err == nil {
		for _, d := range ds.Items {
			t.Logf("deployment %s gen %d status %+v", d.Name, d.Generation, d.Status)
		}
	}
	if rs, err := k.AppsV1().ReplicaSets(ns).List(ctx, metav1.ListOptions{}); err == nil {
		for _, r := range rs.Items {
			t.Logf("replicaset %s status %+v", r.Name, r.Status)
		}
	}
	if ps, err := k.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{}); err == nil {
		for _, p := range ps.Items {
			t.Logf("pod %s node %q phase %s conditions %+v", p.Name, p.Spec.NodeName, p.Status.Phase, p.Status.Conditions)
		}
	}
	if es, err := k.CoreV1().Events(ns).List(ctx, metav1.ListOptions{}); err == nil {
		for _, e := range es.Items {
			t.Logf("event %s %s: %s", e.InvolvedObject.Name, e.Reason, e.Message)
		}
	}
}

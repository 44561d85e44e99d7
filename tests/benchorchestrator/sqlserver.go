package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"text/template"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/coalmine-dev/coalmine/devstack"
)

// sqlServerTools are what -server postgres runs beside the gateway and
// the worker: the Temporal server, its SQL schema tool and PostgreSQL.
type sqlServerTools struct {
	server, sqlTool string
	// pgBin is the folder of PostgreSQL's initdb and postgres.
	pgBin string
	// shards is the server's numHistoryShards.
	shards int
}

// resolve checks the shard count and finds PostgreSQL's folder when -pg-bin
// was not given: the folder of the postgres on PATH, symbolic links followed
// (Debian puts initdb beside postgres in /usr/lib/postgresql/<version>/bin).
func (t *sqlServerTools) resolve() error {
	if t.shards < 1 || t.shards > 1024 {
		return fmt.Errorf("-shards: %d is not from 1 to 1024", t.shards)
	}
	if t.pgBin == "" {
		path, err := exec.LookPath("postgres")
		if err != nil {
			return fmt.Errorf("-server postgres: no postgres on PATH; apt-get install postgresql, then pass -pg-bin /usr/lib/postgresql/<version>/bin")
		}
		if path, err = filepath.EvalSymlinks(path); err != nil {
			return fmt.Errorf("-server postgres: %w", err)
		}
		t.pgBin = filepath.Dir(path)
	}
	for _, name := range []string{"initdb", "postgres"} {
		if _, err := os.Stat(filepath.Join(t.pgBin, name)); err != nil {
			return fmt.Errorf("-pg-bin: %s has no %s; pass the folder of PostgreSQL's programs (/usr/lib/postgresql/<version>/bin on Debian)", t.pgBin, name)
		}
	}
	return nil
}

// describeServer names the server a run uses, with the versions of the
// Temporal server and PostgreSQL, for the table's header.
func (p params) describeServer() string {
	if p.server != "postgres" {
		return "dev (temporal server start-dev, SQLite in a file, 1 history shard)"
	}
	version := func(bin string) string {
		out, err := exec.Command(bin, "--version").Output()
		if err != nil {
			return filepath.Base(bin) + " (version unknown)"
		}
		return strings.TrimSpace(string(out))
	}
	return fmt.Sprintf("postgres (%s, %d history shards, on %s with fsync on)",
		version(p.sqlServer.server), p.sqlServer.shards, version(filepath.Join(p.sqlServer.pgBin, "postgres")))
}

// startSQLServer starts PostgreSQL, sets up the server's databases and
// starts the Temporal server; s.hostPort becomes its frontend's address.
func (s *stack) startSQLServer(ctx context.Context, t sqlServerTools) error {
	pgPort, err := freePorts(1, 0)
	if err != nil {
		return err
	}
	// The server's nine ports: the frontend's gRPC, membership and HTTP
	// ports, then the gRPC and membership ports of matching, history and
	// the system worker. The server keeps its services' ports in a
	// smallint column of its cluster_membership table, so they are chosen
	// below the kernel's ephemeral ports, which begin at 32768.
	ports, err := freePorts(9, 20000+rand.IntN(10000))
	if err != nil {
		return err
	}
	s.hostPort = "127.0.0.1:" + strconv.Itoa(ports[0])
	if err := s.startPostgres(ctx, t.pgBin, pgPort[0]); err != nil {
		return err
	}
	if err := setupSchemas(ctx, t.sqlTool, s.dir, pgPort[0]); err != nil {
		return err
	}
	cfg := serverConfig{Shards: t.shards, PG: pgPort[0], Frontend: ports[0], Ports: ports[1:], DynamicConfig: filepath.Join(s.dir, "dynamicconfig.yaml")}
	root := filepath.Join(s.dir, "temporal-server")
	if err := cfg.write(root); err != nil {
		return err
	}
	s.server, err = s.start("temporal.log", t.server, "--root", root, "--config", "config", "--env", "bench", "--allow-no-auth", "start")
	return err
}

// serverConfig fills the server's configuration template.
type serverConfig struct {
	Shards, PG, Frontend int
	// Ports are the frontend's membership and HTTP ports, then the gRPC and
	// membership ports of matching, history and the system worker.
	Ports         []int
	DynamicConfig string
}

// serverConfigTemplate is the Temporal server's configuration: one cluster,
// all four services in one process on the loopback address, both stores on
// the run's PostgreSQL. Four services with 20 + 10 connections each stay
// within PostgreSQL's max_connections of 200.
var serverConfigTemplate = template.Must(template.New("bench.yaml").Parse(`log:
  stdout: true
  level: warn
persistence:
  defaultStore: default
  visibilityStore: visibility
  numHistoryShards: {{.Shards}}
  datastores:
    default:
      sql: {pluginName: postgres12, databaseName: temporal, connectAddr: "127.0.0.1:{{.PG}}", connectProtocol: tcp, user: temporal, maxConns: 20, maxIdleConns: 20, maxConnLifetime: 1h}
    visibility:
      sql: {pluginName: postgres12, databaseName: temporal_visibility, connectAddr: "127.0.0.1:{{.PG}}", connectProtocol: tcp, user: temporal, maxConns: 10, maxIdleConns: 10, maxConnLifetime: 1h}
global:
  membership: {maxJoinDuration: 30s, broadcastAddress: 127.0.0.1}
services:
  frontend:
    rpc: {grpcPort: {{.Frontend}}, membershipPort: {{index .Ports 0}}, httpPort: {{index .Ports 1}}, bindOnLocalHost: true}
  matching:
    rpc: {grpcPort: {{index .Ports 2}}, membershipPort: {{index .Ports 3}}, bindOnLocalHost: true}
  history:
    rpc: {grpcPort: {{index .Ports 4}}, membershipPort: {{index .Ports 5}}, bindOnLocalHost: true}
  worker:
    rpc: {grpcPort: {{index .Ports 6}}, membershipPort: {{index .Ports 7}}, bindOnLocalHost: true}
clusterMetadata:
  enableGlobalNamespace: false
  failoverVersionIncrement: 10
  masterClusterName: active
  currentClusterName: active
  clusterInformation:
    active: {enabled: true, initialFailoverVersion: 1, rpcName: frontend, rpcAddress: "127.0.0.1:{{.Frontend}}"}
dcRedirectionPolicy:
  policy: noop
dynamicConfigClient:
  filepath: {{.DynamicConfig}}
  pollInterval: 10s
`))

// devServerDynamicConfig is the dynamic configuration the dev server (temporal
// CLI v1.5.1) sets, so that the two servers differ in their store and shards only.
const devServerDynamicConfig = `history.hostLevelCacheMaxSize: [{value: 8096}]
frontend.namespaceRPS.visibility: [{value: 100}]
system.forceSearchAttributesCacheRefreshOnRead: [{value: true}]
frontend.persistenceMaxQPS: [{value: 10000}]
history.persistenceMaxQPS: [{value: 45000}]
`

// write writes root/config/bench.yaml and the dynamic configuration.
func (c serverConfig) write(root string) error {
	if err := os.MkdirAll(filepath.Join(root, "config"), 0o755); err != nil {
		return err
	}
	var b strings.Builder
	if err := serverConfigTemplate.Execute(&b, c); err != nil {
		return fmt.Errorf("server configuration: %w", err)
	}
	if err := os.WriteFile(filepath.Join(root, "config", "bench.yaml"), []byte(b.String()), 0o644); err != nil {
		return err
	}
	return os.WriteFile(c.DynamicConfig, []byte(devServerDynamicConfig), 0o644)
}

// registerNamespace registers the namespace default and coalmine's search
// attributes, which the dev server has from its flags. A namespace just
// registered is unknown to the frontend until its namespace cache
// refreshes, so adding the search attributes is tried again for a minute.
func registerNamespace(ctx context.Context, c client.Client) error {
	_, err := c.WorkflowService().RegisterNamespace(ctx, &workflowservice.RegisterNamespaceRequest{
		Namespace: "default", WorkflowExecutionRetentionPeriod: durationpb.New(24 * time.Hour),
	})
	if err != nil {
		return fmt.Errorf("register namespace default: %w", err)
	}
	sas := map[string]enumspb.IndexedValueType{}
	for _, sa := range devstack.SearchAttributeTypes() {
		sas[sa[0]] = enumspb.IndexedValueType(enumspb.IndexedValueType_value["INDEXED_VALUE_TYPE_"+strings.ToUpper(sa[1])])
	}
	deadline := time.Now().Add(time.Minute)
	for {
		_, err = c.OperatorService().AddSearchAttributes(ctx, &operatorservice.AddSearchAttributesRequest{Namespace: "default", SearchAttributes: sas})
		var unknown *serviceerror.NamespaceNotFound
		if !errors.As(err, &unknown) || time.Now().After(deadline) {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
	if err != nil {
		return fmt.Errorf("add coalmine's search attributes: %w", err)
	}
	return nil
}

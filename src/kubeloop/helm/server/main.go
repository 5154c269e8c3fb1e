// helm-server: Helm's install, upgrade, rollback and uninstall (helm.sh/helm/v3's action package, the
// code the helm command runs) in one long-lived process, for kubeloop's Helm operator.
//
// Requests and answers are JSON objects, one per line, on stdin and stdout; each request is served in
// its own goroutine (the operator sends at most one per release at a time) and answered with its id.
// The process keeps what every helm command would otherwise redo: the API discovery and REST mapping
// (through its own kubeconfig, -kubeconfig), the cluster's capabilities (refreshed after -capabilities-ttl)
// and each chart's files (by path and the digest the caller gives). A request's own kubeconfig names
// the API server it writes through (kubeloop's proxy, one token per reconcile). Releases are stored as
// helm stores them (Secrets), so helm list and helm history read them. stdin closed: the process
// ends once the requests in flight are answered.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/release"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/jsonmergepatch"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/clientcmd"
)

// As the helm command's flags default: --timeout 300s, --history-max 10.
const (
	opTimeout  = 300 * time.Second
	maxHistory = 10
	maxCharts  = 256
)

type request struct {
	ID                int64             `json:"id"`
	Op                string            `json:"op"`
	Kubeconfig        string            `json:"kubeconfig"`
	Name              string            `json:"name"`
	Namespace         string            `json:"namespace"`
	Chart             string            `json:"chart"`
	ChartDigest       string            `json:"chart_digest"`
	Values            map[string]any    `json:"values"`
	Labels            map[string]string `json:"labels"`
	Force             bool              `json:"force"`
	Revision          int               `json:"revision"`
	KeepHistory       bool              `json:"keep_history"`
	OpenAPIValidation bool              `json:"openapi_validation"`
	Objects           []pair            `json:"objects"`
}

// pair is one object of a release: as Helm deployed it (its manifest, with the metadata Helm adds) and
// as it is in the cluster.
type pair struct {
	Expected json.RawMessage `json:"expected"`
	Existing json.RawMessage `json:"existing"`
}

// patch puts an object back as deployed: "strategic" (a kind client-go knows) or "merge" (others).
type patch struct {
	Type  string          `json:"type"`
	Patch json.RawMessage `json:"patch"`
}

// releaseOut is the part of a release the operator reads, in `helm status -o json`'s field names.
type releaseOut struct {
	Name      string         `json:"name"`
	Namespace string         `json:"namespace"`
	Version   int            `json:"version"`
	Info      map[string]any `json:"info"`
	Manifest  string         `json:"manifest"`
	Chart     map[string]any `json:"chart"`
	Config    map[string]any `json:"config"`
}

type response struct {
	ID      int64       `json:"id"`
	Release *releaseOut `json:"release,omitempty"`
	Patches []*patch    `json:"patches,omitempty"`
	Error   string      `json:"error,omitempty"`
}

// server holds what outlives a request: discovery, the REST mapper, capabilities, charts' files.
type server struct {
	discovery discovery.CachedDiscoveryInterface
	mapper    meta.ResettableRESTMapper
	capsTTL   time.Duration

	mu     sync.Mutex
	caps   *chartutil.Capabilities
	capsAt time.Time
	charts map[string][]*chart.File
}

func newServer(kubeconfig string, capsTTL time.Duration) (*server, error) {
	_, config, err := loadConfig(kubeconfig)
	if err != nil {
		return nil, err
	}
	client, err := discovery.NewDiscoveryClientForConfig(config)
	if err != nil {
		return nil, err
	}
	cached := memory.NewMemCacheClient(client)
	return &server{
		discovery: cached,
		mapper:    restmapper.NewDeferredDiscoveryRESTMapper(cached),
		capsTTL:   capsTTL,
		charts:    map[string][]*chart.File{},
	}, nil
}

// loadConfig reads a kubeconfig file (that file only); its REST config has no client-side rate limit:
// the proxy behind it has the operator's.
func loadConfig(path string) (clientcmd.ClientConfig, *rest.Config, error) {
	loaded, err := clientcmd.LoadFromFile(path)
	if err != nil {
		return nil, nil, err
	}
	config := clientcmd.NewDefaultClientConfig(*loaded, &clientcmd.ConfigOverrides{})
	restCfg, err := config.ClientConfig()
	if err != nil {
		return nil, nil, err
	}
	restCfg.QPS = -1
	return config, restCfg, nil
}

// capabilities are what helm's own getCapabilities finds (server version, API versions), kept for
// capsTTL instead of being fetched for every release.
func (s *server) capabilities() (*chartutil.Capabilities, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.caps != nil && time.Since(s.capsAt) < s.capsTTL {
		return s.caps, nil
	}
	s.discovery.Invalidate()
	version, err := s.discovery.ServerVersion()
	if err != nil {
		return nil, fmt.Errorf("could not get server version from Kubernetes: %w", err)
	}
	apiVersions, err := action.GetVersionSet(s.discovery)
	if err != nil && !discovery.IsGroupDiscoveryFailedError(err) {
		return nil, fmt.Errorf("could not get apiVersions from Kubernetes: %w", err)
	}
	s.caps = &chartutil.Capabilities{
		APIVersions: apiVersions,
		KubeVersion: chartutil.KubeVersion{
			Version: version.GitVersion, Major: version.Major, Minor: version.Minor,
		},
		HelmVersion: chartutil.DefaultCapabilities.HelmVersion,
	}
	s.capsAt = time.Now()
	return s.caps, nil
}

// chart loads a chart directory or archive, its files kept by path and digest: each request gets a
// chart of its own (helm's actions change the one they are given), parsed from the kept files.
func (s *server) chart(path, digest string) (*chart.Chart, error) {
	key := path + "\x00" + digest
	s.mu.Lock()
	files, ok := s.charts[key]
	s.mu.Unlock()
	if !ok || digest == "" {
		loaded, err := loader.Load(path)
		if err != nil {
			return nil, err
		}
		if digest != "" {
			s.mu.Lock()
			if len(s.charts) >= maxCharts {
				s.charts = map[string][]*chart.File{}
			}
			s.charts[key] = loaded.Raw
			s.mu.Unlock()
		}
		return loaded, nil
	}
	buffered := make([]*loader.BufferedFile, len(files))
	for i, f := range files {
		buffered[i] = &loader.BufferedFile{Name: f.Name, Data: f.Data}
	}
	return loader.LoadFiles(buffered)
}

// getter is one request's view of the cluster: its own kubeconfig's server (the proxy's token for
// its reconcile) for every write, the server's shared discovery and REST mapper.
type getter struct {
	config clientcmd.ClientConfig
	rest   *rest.Config
	server *server
}

func (g *getter) ToRESTConfig() (*rest.Config, error) { return rest.CopyConfig(g.rest), nil }
func (g *getter) ToDiscoveryClient() (discovery.CachedDiscoveryInterface, error) {
	return g.server.discovery, nil
}
func (g *getter) ToRESTMapper() (meta.RESTMapper, error)        { return g.server.mapper, nil }
func (g *getter) ToRawKubeConfigLoader() clientcmd.ClientConfig { return g.config }

func (s *server) configuration(req *request) (*action.Configuration, error) {
	config, restCfg, err := loadConfig(req.Kubeconfig)
	if err != nil {
		return nil, err
	}
	cfg := new(action.Configuration)
	if err := cfg.Init(&getter{config, restCfg, s}, req.Namespace, "secret", func(string, ...any) {}); err != nil {
		return nil, err
	}
	caps, err := s.capabilities()
	if err != nil {
		return nil, err
	}
	cfg.Capabilities = caps
	return cfg, nil
}

func (s *server) serve(ctx context.Context, req *request) (*release.Release, error) {
	cfg, err := s.configuration(req)
	if err != nil {
		return nil, err
	}
	noValidation := !req.OpenAPIValidation
	switch req.Op {
	case "install":
		chrt, err := s.installable(req)
		if err != nil {
			return nil, err
		}
		install := action.NewInstall(cfg)
		install.ReleaseName, install.Namespace, install.Labels = req.Name, req.Namespace, req.Labels
		install.DisableOpenAPIValidation, install.Timeout = noValidation, opTimeout
		rel, err := install.RunWithContext(ctx, chrt, req.Values)
		if err != nil {
			return nil, fmt.Errorf("INSTALLATION FAILED: %w", err)
		}
		return rel, nil
	case "upgrade":
		chrt, err := s.installable(req)
		if err != nil {
			return nil, err
		}
		upgrade := action.NewUpgrade(cfg)
		upgrade.Namespace, upgrade.Labels, upgrade.ResetValues, upgrade.Force = req.Namespace, req.Labels, true, req.Force
		upgrade.DisableOpenAPIValidation, upgrade.Timeout, upgrade.MaxHistory = noValidation, opTimeout, maxHistory
		rel, err := upgrade.RunWithContext(ctx, req.Name, chrt, req.Values)
		if err != nil {
			return nil, fmt.Errorf("UPGRADE FAILED: %w", err)
		}
		return rel, nil
	case "rollback":
		rollback := action.NewRollback(cfg)
		rollback.Version, rollback.Force = req.Revision, req.Force
		rollback.Timeout, rollback.MaxHistory = opTimeout, maxHistory
		return nil, rollback.Run(req.Name)
	case "uninstall":
		uninstall := action.NewUninstall(cfg)
		uninstall.KeepHistory, uninstall.Timeout = req.KeepHistory, opTimeout
		_, err := uninstall.Run(req.Name)
		return nil, err
	}
	return nil, fmt.Errorf("unknown operation %q", req.Op)
}

// installable is the request's chart, checked as `helm install` and `helm upgrade` check it.
func (s *server) installable(req *request) (*chart.Chart, error) {
	chrt, err := s.chart(req.Chart, req.ChartDigest)
	if err != nil {
		return nil, err
	}
	switch chrt.Metadata.Type {
	case "", "application":
	default:
		return nil, fmt.Errorf("%s charts are not installable", chrt.Metadata.Type)
	}
	if deps := chrt.Metadata.Dependencies; deps != nil {
		if err := action.CheckDependencies(chrt, deps); err != nil {
			return nil, fmt.Errorf("An error occurred while checking for chart dependencies. You may need to run `helm dependency build` to fetch missing dependencies: %w", err)
		}
	}
	return chrt, nil
}

// drift is the patch that puts back what was changed in an object of a release, as helm-operator's
// reconcile of an unchanged release computes it (a three-way merge whose original is the object as
// deployed, so fields the release does not set are left), or nil when nothing differs: the operator
// then writes nothing.
func drift(p pair) (*patch, error) {
	var head struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
	}
	if err := json.Unmarshal(p.Expected, &head); err != nil {
		return nil, err
	}
	out := &patch{Type: "strategic"}
	var err error
	if typed, known := scheme.Scheme.New(schema.FromAPIVersionAndKind(head.APIVersion, head.Kind)); known == nil {
		var meta strategicpatch.LookupPatchMeta
		if meta, err = strategicpatch.NewPatchMetaFromStruct(typed); err != nil {
			return nil, err
		}
		out.Patch, err = strategicpatch.CreateThreeWayMergePatch(p.Expected, p.Expected, p.Existing, meta, true)
	} else { // a custom resource (or a kind client-go does not know): no strategic merge on the server
		out.Type = "merge"
		out.Patch, err = jsonmergepatch.CreateThreeWayJSONMergePatch(p.Expected, p.Expected, p.Existing)
	}
	if err != nil {
		return nil, err
	}
	if len(out.Patch) == 0 || string(out.Patch) == "{}" {
		return nil, nil
	}
	return out, nil
}

func summary(rel *release.Release) *releaseOut {
	if rel == nil {
		return nil
	}
	out := &releaseOut{Name: rel.Name, Namespace: rel.Namespace, Version: rel.Version, Manifest: rel.Manifest, Config: rel.Config}
	if rel.Info != nil {
		out.Info = map[string]any{"status": rel.Info.Status.String()}
	}
	if rel.Chart != nil && rel.Chart.Metadata != nil {
		out.Chart = map[string]any{"metadata": map[string]any{"name": rel.Chart.Metadata.Name, "version": rel.Chart.Metadata.Version}}
	}
	return out
}

func main() {
	kubeconfig := flag.String("kubeconfig", "", "the kubeconfig discovery goes through")
	capsTTL := flag.Duration("capabilities-ttl", 10*time.Second, "how long the cluster's capabilities are kept")
	flag.Parse()
	s, err := newServer(*kubeconfig, *capsTTL)
	if err != nil {
		fmt.Fprintln(os.Stderr, "helm-server:", err)
		os.Exit(2)
	}
	out := bufio.NewWriter(os.Stdout)
	var writing sync.Mutex
	answer := func(resp *response) {
		data, err := json.Marshal(resp)
		if err != nil {
			data, _ = json.Marshal(&response{ID: resp.ID, Error: err.Error()})
		}
		writing.Lock()
		defer writing.Unlock()
		out.Write(append(data, '\n'))
		out.Flush()
	}
	var inFlight sync.WaitGroup
	in := bufio.NewReaderSize(os.Stdin, 1<<20)
	for {
		line, err := in.ReadBytes('\n')
		if len(line) > 0 {
			req := new(request)
			if jerr := json.Unmarshal(line, req); jerr != nil {
				fmt.Fprintln(os.Stderr, "helm-server: a request that is not JSON:", jerr)
				os.Exit(2)
			}
			inFlight.Add(1)
			go func() {
				defer inFlight.Done()
				resp := &response{ID: req.ID}
				var err error
				if req.Op == "drift" { // no cluster: the operator read the objects
					resp.Patches = make([]*patch, len(req.Objects))
					for i, p := range req.Objects {
						if resp.Patches[i], err = drift(p); err != nil {
							break
						}
					}
				} else {
					var rel *release.Release
					rel, err = s.serve(context.Background(), req)
					resp.Release = summary(rel)
				}
				if err != nil {
					resp.Error = err.Error()
				}
				answer(resp)
			}()
		}
		if errors.Is(err, io.EOF) { // the operator stops: finish what is in flight (no release left pending)
			inFlight.Wait()
			os.Exit(0)
		} else if err != nil {
			fmt.Fprintln(os.Stderr, "helm-server:", err)
			os.Exit(2)
		}
	}
}

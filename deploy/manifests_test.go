package deploy

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"github.com/erpgate/erpgate/config"
)

var update = flag.Bool("update", false, "rewrite kubernetes/erpgate.yaml from the chart")

const (
	chartDir  = "helm/erpgate"
	plainFile = "kubernetes/erpgate.yaml"
	// plainArgs is the documented values set the plain manifests are
	// rendered with (their header says so too).
	plainArgs = "--namespace erpgate --set secret.existingSecret=erpgate"
)

// plainHeader starts kubernetes/erpgate.yaml; the rest is helm's output.
const plainHeader = `# erpgate on Kubernetes, plain manifests: kubectl apply -n erpgate -f deploy/kubernetes/
#
# Generated from the Helm chart (deploy/helm/erpgate) with its default values
# and secret.existingSecret=erpgate:
#   helm template erpgate deploy/helm/erpgate ` + plainArgs + `
# deploy/manifests_test.go keeps this file equal to that output (regenerate:
# go test ./deploy -run TestPlainManifests -update). Edit the chart, not this.
#
# Before applying: create the Secret the config's ${VAR}s come from,
#   kubectl -n erpgate create secret generic erpgate \
#     --from-literal=ERPGATE_GATEWAY_SECRET=... \
#     --from-literal=ERPGATE_GATEWAY_SECRET_HASH=... \
#     --from-literal=ERPGATE_COOKIE_KEY=...
# (erpgate new-secret prints a secret and its hash; a cookie key is
# head -c32 /dev/urandom | base64), set public_url, apps and routes in the
# ConfigMap, and the image to one built from the repository's Dockerfile.
# SQLite store: one replica on the PersistentVolumeClaim, Recreate strategy.
`

// dummyEnv stands in for the Secret: a valid value for every variable the
// chart's example config names (the config checks that the gateway's
// secret matches its app's hash, base64(sha256(secret))).
var dummyEnv = map[string]string{
	"ERPGATE_GATEWAY_SECRET":      gatewaySecret,
	"ERPGATE_GATEWAY_SECRET_HASH": secretHash(gatewaySecret),
	"ERPGATE_COOKIE_KEY":          base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32)),
	"ERPGATE_DB_PASSWORD":         "k8s-test-db-password",
}

const gatewaySecret = "k8s-test-gateway-secret"

func secretHash(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return base64.StdEncoding.EncodeToString(sum[:])
}

// ---- helm, built once from tools/helm ----

var (
	helmOnce sync.Once
	helmPath string
	helmErr  error
	helmDir  string
)

func TestMain(m *testing.M) {
	flag.Parse()
	code := m.Run()
	if helmDir != "" {
		os.RemoveAll(helmDir)
	}
	os.Exit(code)
}

// helm returns the helm binary, built once per test run from the tool
// module tools/helm (go build's cache makes later runs take seconds).
// Without it the test fails under CI=true and skips elsewhere.
func helm(t *testing.T) string {
	t.Helper()
	helmOnce.Do(func() {
		goBin, err := exec.LookPath("go")
		if err != nil {
			helmErr = err
			return
		}
		helmDir, helmErr = os.MkdirTemp("", "erpgate-helm-")
		if helmErr != nil {
			return
		}
		helmPath = filepath.Join(helmDir, "helm")
		cmd := exec.Command(goBin, "build", "-modfile=tools/helm/go.mod", "-o", helmPath, "helm.sh/helm/v3/cmd/helm")
		cmd.Dir = ".."
		if out, err := cmd.CombinedOutput(); err != nil {
			helmErr = fmt.Errorf("%v: %s", err, out)
		}
	})
	if helmErr != nil {
		what := "helm, built with go build -modfile=tools/helm/go.mod helm.sh/helm/v3/cmd/helm: " + helmErr.Error()
		if os.Getenv("CI") == "true" {
			t.Fatalf("missing test dependency: %s (CI=true, so this is a failure)", what)
		}
		t.Skipf("skipping: missing test dependency: %s (with CI=true this test would fail)", what)
	}
	return helmPath
}

// render runs helm template on the chart with a values file holding values
// (YAML), and returns its output, or an error with helm's message.
func render(t *testing.T, values string, args ...string) ([]byte, error) {
	t.Helper()
	h := helm(t)
	vf := filepath.Join(t.TempDir(), "values.yaml")
	if err := os.WriteFile(vf, []byte(values), 0o600); err != nil {
		t.Fatal(err)
	}
	argv := append([]string{"template", "erpgate", chartDir, "-f", vf}, args...)
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(h, argv...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("helm template: %v: %s", err, stderr.String())
	}
	return stdout.Bytes(), nil
}

func mustRender(t *testing.T, values string, args ...string) *objects {
	t.Helper()
	out, err := render(t, values, args...)
	if err != nil {
		t.Fatal(err)
	}
	return decodeAll(t, out)
}

// ---- strict decoding into k8s.io/api types ----

// kinds maps apiVersion/kind to a new value of its official type; any other
// kind in a manifest is a failure.
var kinds = map[string]func() any{
	"apps/v1/Deployment":                     func() any { return new(appsv1.Deployment) },
	"v1/Service":                             func() any { return new(corev1.Service) },
	"v1/ConfigMap":                           func() any { return new(corev1.ConfigMap) },
	"v1/Secret":                              func() any { return new(corev1.Secret) },
	"v1/ServiceAccount":                      func() any { return new(corev1.ServiceAccount) },
	"v1/PersistentVolumeClaim":               func() any { return new(corev1.PersistentVolumeClaim) },
	"policy/v1/PodDisruptionBudget":          func() any { return new(policyv1.PodDisruptionBudget) },
	"autoscaling/v2/HorizontalPodAutoscaler": func() any { return new(autoscalingv2.HorizontalPodAutoscaler) },
	"networking.k8s.io/v1/Ingress":           func() any { return new(networkingv1.Ingress) },
}

// objects is a rendered set of manifests, by kind.
type objects struct {
	deployments []*appsv1.Deployment
	services    []*corev1.Service
	configMaps  []*corev1.ConfigMap
	secrets     []*corev1.Secret
	accounts    []*corev1.ServiceAccount
	claims      []*corev1.PersistentVolumeClaim
	pdbs        []*policyv1.PodDisruptionBudget
	hpas        []*autoscalingv2.HorizontalPodAutoscaler
	ingresses   []*networkingv1.Ingress
}

func decodeAll(t *testing.T, data []byte) *objects {
	t.Helper()
	var o objects
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	for i := 0; ; i++ {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("document %d: %v", i, err)
		}
		v, err := decodeStrict(doc)
		if err != nil {
			t.Fatalf("document %d: %v\n%s", i, err, doc)
		}
		switch v := v.(type) {
		case nil:
		case *appsv1.Deployment:
			o.deployments = append(o.deployments, v)
		case *corev1.Service:
			o.services = append(o.services, v)
		case *corev1.ConfigMap:
			o.configMaps = append(o.configMaps, v)
		case *corev1.Secret:
			o.secrets = append(o.secrets, v)
		case *corev1.ServiceAccount:
			o.accounts = append(o.accounts, v)
		case *corev1.PersistentVolumeClaim:
			o.claims = append(o.claims, v)
		case *policyv1.PodDisruptionBudget:
			o.pdbs = append(o.pdbs, v)
		case *autoscalingv2.HorizontalPodAutoscaler:
			o.hpas = append(o.hpas, v)
		case *networkingv1.Ingress:
			o.ingresses = append(o.ingresses, v)
		}
	}
	return &o
}

// decodeStrict decodes one YAML document into the type of its kind:
// duplicate keys and unknown fields are errors. A document holding only
// comments gives nil.
func decodeStrict(doc []byte) (any, error) {
	js, err := yaml.YAMLToJSONStrict(doc)
	if err != nil {
		return nil, err
	}
	if string(bytes.TrimSpace(js)) == "null" {
		return nil, nil
	}
	var head struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
	}
	if err := json.Unmarshal(js, &head); err != nil {
		return nil, err
	}
	newObj, ok := kinds[head.APIVersion+"/"+head.Kind]
	if !ok {
		return nil, fmt.Errorf("unknown kind %s %s", head.APIVersion, head.Kind)
	}
	v := newObj()
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return nil, fmt.Errorf("%s: %w", head.Kind, err)
	}
	return v, nil
}

// ---- the erpgate config the ConfigMap carries ----

var varRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// parseConfig parses the ConfigMap's erpgate.yaml with the project's own
// loader, ${VAR}s taken from env; it also returns the variables named.
func parseConfig(t *testing.T, o *objects, env map[string]string) (*config.File, []string) {
	t.Helper()
	if len(o.configMaps) != 1 {
		t.Fatalf("%d ConfigMaps, want 1", len(o.configMaps))
	}
	text, ok := o.configMaps[0].Data["erpgate.yaml"]
	if !ok {
		t.Fatalf("ConfigMap has no erpgate.yaml: %v", o.configMaps[0].Data)
	}
	var names []string
	for _, m := range varRef.FindAllStringSubmatch(text, -1) {
		names = append(names, m[1])
	}
	f, err := config.Parse([]byte(text), func(k string) (string, bool) {
		v, ok := env[k]
		return v, ok
	})
	if err != nil {
		t.Fatalf("the chart's config does not parse: %v\n%s", err, text)
	}
	for _, w := range f.Warnings() {
		t.Errorf("config warning: %v", w)
	}
	return f, names
}

func listenPort(t *testing.T, addr string) int32 {
	t.Helper()
	i := strings.LastIndex(addr, ":")
	p, err := strconv.Atoi(addr[i+1:])
	if i < 0 || err != nil {
		t.Fatalf("listen address %q has no port", addr)
	}
	return int32(p)
}

// containerPort resolves a probe's named or numbered port.
func containerPort(t *testing.T, c corev1.Container, name string) int32 {
	t.Helper()
	for _, cp := range c.Ports {
		if cp.Name == name {
			return cp.ContainerPort
		}
	}
	t.Fatalf("container has no port named %q", name)
	return 0
}

// dockerfileUser reads the image's numeric USER uid:gid.
func dockerfileUser(t *testing.T) (int64, int64) {
	t.Helper()
	b, err := os.ReadFile("../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^USER (\d+):(\d+)$`).FindSubmatch(b)
	if m == nil {
		t.Fatal("Dockerfile has no numeric USER uid:gid")
	}
	uid, _ := strconv.ParseInt(string(m[1]), 10, 64)
	gid, _ := strconv.ParseInt(string(m[2]), 10, 64)
	return uid, gid
}

// checkPod asserts what every rendering must hold: probes on the config's
// admin_listen, the proxy port on its listen, the hardened security
// context with the image's user, resources, the config mounted where the
// container reads it, and no service-account token.
func checkPod(t *testing.T, o *objects, f *config.File, secretName string) *appsv1.Deployment {
	t.Helper()
	if len(o.deployments) != 1 {
		t.Fatalf("%d Deployments, want 1", len(o.deployments))
	}
	d := o.deployments[0]
	pod := d.Spec.Template.Spec
	if len(pod.Containers) != 1 {
		t.Fatalf("%d containers, want 1", len(pod.Containers))
	}
	c := pod.Containers[0]

	admin, listen := listenPort(t, f.AdminListen), listenPort(t, f.Listen)
	for name, probe := range map[string]*corev1.Probe{"liveness": c.LivenessProbe, "readiness": c.ReadinessProbe, "startup": c.StartupProbe} {
		if probe == nil || probe.HTTPGet == nil {
			t.Errorf("%s probe is not an HTTP GET", name)
			continue
		}
		want := map[string]string{"liveness": "/healthz", "readiness": "/readyz", "startup": "/healthz"}[name]
		if probe.HTTPGet.Path != want {
			t.Errorf("%s probe path %q, want %q", name, probe.HTTPGet.Path, want)
		}
		if got := containerPort(t, c, probe.HTTPGet.Port.String()); got != admin {
			t.Errorf("%s probe port %d, but admin_listen is %s", name, got, f.AdminListen)
		}
	}
	if got := containerPort(t, c, "http"); got != listen {
		t.Errorf("http port %d, but listen is %s", got, f.Listen)
	}

	uid, gid := dockerfileUser(t)
	ps := pod.SecurityContext
	if ps == nil || ps.RunAsNonRoot == nil || !*ps.RunAsNonRoot || ps.RunAsUser == nil || *ps.RunAsUser != uid ||
		ps.RunAsGroup == nil || *ps.RunAsGroup != gid || ps.FSGroup == nil || *ps.FSGroup != gid {
		t.Errorf("pod securityContext %+v, want non-root %d:%d, fsGroup %d", ps, uid, gid, gid)
	}
	if ps == nil || ps.SeccompProfile == nil || ps.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("pod seccompProfile is not RuntimeDefault")
	}
	cs := c.SecurityContext
	if cs == nil || cs.ReadOnlyRootFilesystem == nil || !*cs.ReadOnlyRootFilesystem ||
		cs.AllowPrivilegeEscalation == nil || *cs.AllowPrivilegeEscalation ||
		cs.Capabilities == nil || len(cs.Capabilities.Drop) != 1 || cs.Capabilities.Drop[0] != "ALL" || len(cs.Capabilities.Add) != 0 {
		t.Errorf("container securityContext %+v, want read-only root, no privilege escalation, capabilities drop ALL", cs)
	}
	if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() {
		t.Errorf("resources %+v, want cpu and memory requests and a memory limit", c.Resources)
	}
	if pod.AutomountServiceAccountToken == nil || *pod.AutomountServiceAccountToken {
		t.Error("pod mounts a service-account token")
	}
	for _, sa := range o.accounts {
		if sa.AutomountServiceAccountToken == nil || *sa.AutomountServiceAccountToken {
			t.Errorf("ServiceAccount %s mounts its token", sa.Name)
		}
		if sa.Name != pod.ServiceAccountName {
			t.Errorf("pod uses ServiceAccount %q, chart made %q", pod.ServiceAccountName, sa.Name)
		}
	}

	// The config is mounted from the ConfigMap where args say.
	if strings.Join(c.Args, " ") != "serve --config /etc/erpgate/erpgate.yaml" {
		t.Errorf("args %q", c.Args)
	}
	mounts := map[string]corev1.VolumeMount{}
	for _, m := range c.VolumeMounts {
		mounts[m.Name] = m
	}
	volumes := map[string]corev1.Volume{}
	for _, v := range pod.Volumes {
		volumes[v.Name] = v
	}
	if m, v := mounts["config"], volumes["config"]; m.MountPath != "/etc/erpgate" || !m.ReadOnly ||
		v.ConfigMap == nil || v.ConfigMap.Name != o.configMaps[0].Name {
		t.Errorf("config mount %+v from %+v, want /etc/erpgate read-only from ConfigMap %s", m, v, o.configMaps[0].Name)
	}
	if _, ok := mounts["tmp"]; !ok || volumes["tmp"].EmptyDir == nil {
		t.Error("no writable /tmp emptyDir beside the read-only root")
	}

	var from []string
	for _, e := range c.EnvFrom {
		if e.SecretRef != nil {
			from = append(from, e.SecretRef.Name)
		}
	}
	if len(from) != 1 || from[0] != secretName {
		t.Errorf("envFrom secrets %q, want [%q]", from, secretName)
	}

	// Two Services: the proxy's and the admin listener's, by port name.
	ports := map[string]bool{}
	for _, s := range o.services {
		for _, p := range s.Spec.Ports {
			ports[p.TargetPort.String()] = true
		}
	}
	if !ports["http"] || !ports["admin"] {
		t.Errorf("Services target %v, want http and admin", ports)
	}
	if len(o.pdbs) != 1 || o.pdbs[0].Spec.Selector == nil ||
		o.pdbs[0].Spec.Selector.MatchLabels["app.kubernetes.io/name"] != d.Spec.Template.Labels["app.kubernetes.io/name"] {
		t.Errorf("want one PodDisruptionBudget selecting the pods")
	}
	return d
}

// ---- the tests ----

func TestChartLint(t *testing.T) {
	out, err := exec.Command(helm(t), "lint", "--strict", chartDir, "--set", "secret.existingSecret=erpgate").CombinedOutput()
	if err != nil {
		t.Fatalf("helm lint: %v\n%s", err, out)
	}
}

// TestChartDefaults: the default values, SQLite on one replica with a
// volume, secrets from an existing Secret.
func TestChartDefaults(t *testing.T) {
	o := mustRender(t, "secret: {existingSecret: erpgate-secrets}\n")
	f, names := parseConfig(t, o, dummyEnv)
	if len(names) == 0 {
		t.Error("the default config takes no secret from the environment")
	}
	d := checkPod(t, o, f, "erpgate-secrets")

	if f.Store.Driver != "sqlite" || !strings.HasPrefix(f.Store.DSN, "/data/") {
		t.Errorf("store %s %s, want sqlite under /data", f.Store.Driver, f.Store.DSN)
	}
	if d.Spec.Replicas == nil || *d.Spec.Replicas != 1 {
		t.Errorf("replicas %v, want 1", d.Spec.Replicas)
	}
	if d.Spec.Strategy.Type != appsv1.RecreateDeploymentStrategyType {
		t.Errorf("strategy %q, want Recreate for the SQLite volume", d.Spec.Strategy.Type)
	}
	if len(o.claims) != 1 {
		t.Fatalf("%d PersistentVolumeClaims, want 1", len(o.claims))
	}
	var dataMount string
	for _, m := range d.Spec.Template.Spec.Containers[0].VolumeMounts {
		if m.Name == "data" {
			dataMount = m.MountPath
		}
	}
	var claim string
	for _, v := range d.Spec.Template.Spec.Volumes {
		if v.Name == "data" && v.PersistentVolumeClaim != nil {
			claim = v.PersistentVolumeClaim.ClaimName
		}
	}
	if claim != o.claims[0].Name || filepath.Dir(f.Store.DSN) != dataMount {
		t.Errorf("SQLite file %s, volume %q mounted at %q; want the file on the claim %s", f.Store.DSN, claim, dataMount, o.claims[0].Name)
	}
	if len(o.secrets) != 0 || len(o.hpas) != 0 || len(o.ingresses) != 0 {
		t.Errorf("defaults rendered %d Secrets, %d HPAs, %d Ingresses; want none", len(o.secrets), len(o.hpas), len(o.ingresses))
	}
}

// TestChartPostgres: PostgreSQL with autoscaling, a chart-made Secret and
// an Ingress; no volume, rolling updates.
func TestChartPostgres(t *testing.T) {
	values := `
store:
  driver: postgres
  dsn: postgres://erpgate:${ERPGATE_DB_PASSWORD}@postgres:5432/erpgate?sslmode=verify-full&search_path=erpgate
autoscaling: {enabled: true, minReplicas: 2, maxReplicas: 5}
ingress: {enabled: true, className: nginx, host: erpgate.example.com}
secret:
  env:
`
	for k, v := range dummyEnv {
		values += fmt.Sprintf("    %s: %q\n", k, v)
	}
	o := mustRender(t, values)
	if len(o.secrets) != 1 {
		t.Fatalf("%d Secrets, want 1", len(o.secrets))
	}
	s := o.secrets[0]
	f, names := parseConfig(t, o, s.StringData)
	for _, n := range names {
		if _, ok := s.StringData[n]; !ok {
			t.Errorf("config names ${%s}, the Secret lacks it", n)
		}
	}
	if f.Store.Driver != "postgres" || !strings.Contains(f.Store.DSN, "k8s-test-db-password") {
		t.Errorf("store %s %s, want postgres with the password expanded", f.Store.Driver, f.Store.DSN)
	}
	d := checkPod(t, o, f, s.Name)
	if d.Spec.Replicas != nil {
		t.Errorf("replicas %d set beside an HPA", *d.Spec.Replicas)
	}
	if d.Spec.Strategy.Type != appsv1.RollingUpdateDeploymentStrategyType {
		t.Errorf("strategy %q, want RollingUpdate", d.Spec.Strategy.Type)
	}
	if len(o.claims) != 0 {
		t.Errorf("%d PersistentVolumeClaims for PostgreSQL", len(o.claims))
	}
	if len(o.hpas) != 1 || o.hpas[0].Spec.ScaleTargetRef.Name != d.Name || o.hpas[0].Spec.MinReplicas == nil ||
		*o.hpas[0].Spec.MinReplicas != 2 || o.hpas[0].Spec.MaxReplicas != 5 {
		t.Errorf("want one HPA scaling %s 2..5", d.Name)
	}
	if len(o.ingresses) != 1 {
		t.Fatalf("%d Ingresses, want 1", len(o.ingresses))
	}
	ing := o.ingresses[0]
	b := ing.Spec.Rules[0].HTTP.Paths[0].Backend.Service
	public, err := url.Parse(f.PublicURL)
	if err != nil {
		t.Fatal(err)
	}
	if ing.Spec.Rules[0].Host != public.Hostname() || b.Port.Name != "http" || b.Name != o.services[0].Name {
		t.Errorf("Ingress %+v, want public_url's host %s to the http Service port", ing.Spec, public.Hostname())
	}
	// The Ingress never reaches the admin listener.
	for _, svc := range o.services {
		if svc.Name == b.Name {
			for _, p := range svc.Spec.Ports {
				if p.TargetPort.String() == "admin" {
					t.Errorf("the Ingress's Service %s exposes the admin port", svc.Name)
				}
			}
		}
	}
}

// TestChartMetricsPort: ports.metrics sets metrics_listen, and the pod
// and a Service of its own expose it; the probes stay on the admin port,
// and no other Service reaches the metrics port or the metrics Service the
// admin port.
func TestChartMetricsPort(t *testing.T) {
	o := mustRender(t, "ports: {metrics: 9100}\nsecret: {existingSecret: erpgate-secrets}\n")
	f, _ := parseConfig(t, o, dummyEnv)
	d := checkPod(t, o, f, "erpgate-secrets") // probes on admin_listen
	if f.MetricsListen == "" || listenPort(t, f.MetricsListen) != 9100 {
		t.Fatalf("metrics_listen %q, want port 9100", f.MetricsListen)
	}
	if got := containerPort(t, d.Spec.Template.Spec.Containers[0], "metrics"); got != 9100 {
		t.Errorf("metrics container port %d, want metrics_listen's 9100", got)
	}
	var metricsServices int
	for _, svc := range o.services {
		for _, p := range svc.Spec.Ports {
			isMetrics := strings.HasSuffix(svc.Name, "-metrics")
			if (p.TargetPort.String() == "metrics") != isMetrics {
				t.Errorf("Service %s targets %s", svc.Name, p.TargetPort.String())
			}
			if isMetrics {
				metricsServices++
			}
		}
	}
	if metricsServices != 1 {
		t.Errorf("%d metrics Service ports, want 1", metricsServices)
	}
	// Without ports.metrics (the defaults) there is none, and /metrics
	// stays on the admin port.
	o = mustRender(t, "secret: {existingSecret: erpgate-secrets}\n")
	if f, _ := parseConfig(t, o, dummyEnv); f.MetricsListen != "" {
		t.Errorf("defaults set metrics_listen %q", f.MetricsListen)
	}
	for _, svc := range o.services {
		if strings.HasSuffix(svc.Name, "-metrics") {
			t.Errorf("defaults render Service %s", svc.Name)
		}
	}
}

// TestChartRefuses: the chart fails to render, saying why, rather than
// deploy a store that cannot work.
func TestChartRefuses(t *testing.T) {
	for _, tc := range []struct {
		name, values, want string
	}{
		{"sqlite with two replicas", "replicaCount: 2\nsecret: {existingSecret: s}\n",
			"store.driver sqlite needs exactly one replica (replicaCount is 2)"},
		{"sqlite autoscaled", "autoscaling: {enabled: true}\nsecret: {existingSecret: s}\n",
			"store.driver sqlite cannot autoscale"},
		{"sqlite without a volume", "persistence: {enabled: false}\nsecret: {existingSecret: s}\n",
			"store.driver sqlite needs a PersistentVolumeClaim"},
		{"sqlite with a dsn", "store: {dsn: /x.db}\nsecret: {existingSecret: s}\n",
			"store.dsn is set by the chart for sqlite"},
		{"postgres without a dsn", "store: {driver: postgres}\nsecret: {existingSecret: s}\n",
			"store.driver postgres needs store.dsn"},
		{"memory store", "store: {driver: memory}\nsecret: {existingSecret: s}\n",
			`store.driver must be sqlite or postgres, not "memory"`},
		{"no secret for the config's variables", "{}\n",
			"config uses ${VAR} references: set secret.existingSecret"},
		{"ingress host not the gateway's", "ingress: {enabled: true, host: other.example.com}\nsecret: {existingSecret: s}\n",
			`ingress.host "other.example.com" is neither config.public_url's host "erpgate.example.com" nor in config.allowed_hosts`},
		{"metrics_listen in config", "config: {metrics_listen: '0.0.0.0:9100'}\nsecret: {existingSecret: s}\n",
			"config.metrics_listen is set by the chart: set ports.metrics instead"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := render(t, tc.values)
			if err == nil {
				t.Fatal("helm template rendered it")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q, want it to say %q", err, tc.want)
			}
		})
	}
	// The same values with PostgreSQL do render: the refusal is the store's.
	if _, err := render(t, "replicaCount: 3\nstore: {driver: postgres, dsn: 'postgres://db/erpgate'}\nsecret: {existingSecret: s}\n"); err != nil {
		t.Fatalf("three PostgreSQL replicas: %v", err)
	}
}

// TestPlainManifests: kubernetes/erpgate.yaml is the chart rendered with
// plainArgs, decodes strictly, and holds the same properties.
func TestPlainManifests(t *testing.T) {
	out, err := render(t, "{}\n", strings.Fields(plainArgs)...)
	if err != nil {
		t.Fatal(err)
	}
	want := plainHeader + string(out)
	if *update {
		if err := os.WriteFile(plainFile, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(plainFile)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		t.Fatalf("%s differs from the chart's rendering; run go test ./deploy -run TestPlainManifests -update", plainFile)
	}
	o := decodeAll(t, got)
	f, _ := parseConfig(t, o, dummyEnv)
	checkPod(t, o, f, "erpgate")
}

// TestDecodeStrict: the decoder the tests rely on refuses what it must.
func TestDecodeStrict(t *testing.T) {
	for _, tc := range []struct{ name, doc, want string }{
		{"unknown field", "apiVersion: v1\nkind: Service\nspec: {prots: []}\n", `unknown field "prots"`},
		{"unknown kind", "apiVersion: v1\nkind: Pod\n", "unknown kind v1 Pod"},
		{"wrong version", "apiVersion: autoscaling/v1\nkind: HorizontalPodAutoscaler\n", "unknown kind"},
		{"duplicate key", "apiVersion: v1\nkind: Service\nkind: Service\n", "already set"},
		{"wrong type", "apiVersion: apps/v1\nkind: Deployment\nspec: {replicas: two}\n", "replicas"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := decodeStrict([]byte(tc.doc))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one saying %q", err, tc.want)
			}
		})
	}
}

// Package deploy holds no code: it is where the deployment files in this
// directory are tested as an operator would use them.
//
// The Helm chart (helm/erpgate) is rendered with `helm template`, built
// from the tool module in tools/helm (kept out of the main go.mod), and
// linted with `helm lint`. Every rendered document and every plain
// manifest in kubernetes/ is decoded strictly, unknown fields being an
// error, into the official k8s.io/api type of its kind; a kind the test
// does not know is a failure too. The erpgate config the ConfigMap carries
// is parsed by the project's own config package after ${VAR} expansion, so
// the chart cannot ship a config the binary refuses, and the probes, ports
// and volume are checked against it. The chart's refusals (SQLite with more
// than one replica, with autoscaling or without a volume) are rendered and
// must fail with their message.
//
// kubernetes/erpgate.yaml is the chart rendered with
// secret.existingSecret=erpgate; after changing the chart, regenerate it
// with `go test ./deploy -run TestPlainManifests -update`.
package deploy

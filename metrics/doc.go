// Package metrics defines erpgate's Prometheus metrics (SPEC §7) on a
// registerer the gateway injects (gateway/gateway.go; cmd/erpgate creates
// the registry); nothing here touches the default global registry.
package metrics

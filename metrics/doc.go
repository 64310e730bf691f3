// Package metrics defines erpgate's Prometheus metrics (SPEC §7) on a
// registerer that cmd/erpgate creates and injects; nothing here touches
// the default global registry.
package metrics

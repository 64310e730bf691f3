// Package traced is a store.Backend decorator that measures every store
// operation: erpgate_store_operation_duration_seconds and
// erpgate_store_operation_errors_total by operation (the method name, a
// bounded label set), and, within a traced request, a span per operation
// (store.<Method>) under the request's span. Operations outside a
// recording span (the background loops) get no span of their own: a root
// span every second from the sync loops would drown the request traces.
package traced

// Command erpgate is the reverse-proxy authentication gateway: identity
// server, edge proxy and metrics in one binary. This package only reads
// flags, files and the environment and wires plain configs into the
// libraries; see gateway.go for the wiring.
package main

// Command erpgate is the reverse-proxy authentication gateway: identity
// server, edge proxy and metrics in one binary. This package only reads
// flags, files and the environment, runs the CLI subcommands and turns
// the config file into the libraries' configs; the running gateway is
// package gateway, built in serve.go (gatewayConfig).
package main

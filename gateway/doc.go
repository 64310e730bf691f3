// Package gateway is a running erpgate: the identity server, the edge
// proxy and the admin listener on one store, with the background loops,
// config reload and graceful shutdown. cmd/erpgate reads the config file
// and the environment, opens the store and the logs, and hands them over
// in a Config; New builds the gateway, Run (or Serve) serves it until its
// context ends, Reload applies a new config, Close releases it. The
// package reads no file and no environment (it imports os only for the
// os.Signal of Config.SIGHUP): the files a config names come through
// Config.ReadFile, a config re-read on SIGHUP through Config.LoadConfig.
//
// Where a request goes on the main listener (Handler): requestid, then
// clientaddr puts the real client address in RemoteAddr (the current
// snapshot's trusted_proxies), the access log (when log.access_log is
// on), and then the snapshot current when the request arrived: the host
// check (421 unless public_url's host or one of allowed_hosts), then the
// identity server for the issuer's paths (/id/…) and the proxy for
// everything else. The admin listener (AdminHandler; HTTPS with
// admin_tls) serves /metrics, /healthz, /readyz and the admin API; with
// metrics_listen, /metrics (and /healthz) is served there instead.
//
// Files:
//
//   - gateway.go: Config, New and Close: the long-lived state (store,
//     keys, revocations, directory, sessions, reference tokens,
//     authority, metrics).
//   - run.go: Run and Serve: the listeners, TLS, the background loops and
//     the graceful shutdown.
//   - reload.go: the snapshot of everything else a config gives (issuer,
//     policy, proxy, host check, admin API), swapped atomically by Reload;
//     the license and log level it also applies, the restart-only
//     settings it keeps, and its report.
//   - listeners.go: the admin listener's TLS and the metrics listener.
//   - transports.go: the upstream transports, pooled across snapshots.
//   - live.go: the live connections (WebSockets, streams), across
//     snapshots, closed by session ends and revocations (package live).
//   - enforce.go: what a directory change takes away (kill switch,
//     removed users, password changes) is ended at once.
//   - apps.go: the run-time app registry behind the admin API.
//   - admin.go: the admin listener and the admin API's wiring.
//   - replicas.go: a store shared with other replicas (change
//     notifications, the signing-key lock).
//   - janitor.go: deleting expired records from the store.
//   - accesslog.go: the access log and request_id on every log line.
//   - browser.go: browser login at the proxy, reaching the identity
//     server through an in-process http.RoundTripper.
//   - routes.go, limits.go, ui.go: routes, limits and ui of the config
//     file as policy, proxy, issuer and webui take them.
//   - secrets.go: client secrets and their stored hash.
package gateway

{{/* Names and labels, as `helm create` makes them. */}}
{{- define "erpgate.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "erpgate.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "erpgate.selectorLabels" -}}
app.kubernetes.io/name: {{ include "erpgate.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "erpgate.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "erpgate.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "erpgate.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "erpgate.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The Secret the pod takes its environment from; empty when none. */}}
{{- define "erpgate.secretName" -}}
{{- if .Values.secret.existingSecret }}
{{- .Values.secret.existingSecret }}
{{- else if .Values.secret.env }}
{{- include "erpgate.fullname" . }}
{{- end }}
{{- end }}

{{- define "erpgate.claimName" -}}
{{- default (include "erpgate.fullname" .) .Values.persistence.existingClaim }}
{{- end }}

{{/*
The store rule (README "Several replicas"): one SQLite file serves one
process, so sqlite means exactly one replica, no autoscaling and a volume;
several replicas share PostgreSQL. Every template that depends on it
includes this, so a refused combination never renders.
*/}}
{{- define "erpgate.checkStore" -}}
{{- $s := .Values.store }}
{{- if eq $s.driver "sqlite" }}
{{- if ne (int .Values.replicaCount) 1 }}
{{- fail (printf "store.driver sqlite needs exactly one replica (replicaCount is %v): one SQLite file cannot be shared between pods; use store.driver postgres for more" .Values.replicaCount) }}
{{- end }}
{{- if .Values.autoscaling.enabled }}
{{- fail "store.driver sqlite cannot autoscale: autoscaling.enabled needs store.driver postgres" }}
{{- end }}
{{- if not .Values.persistence.enabled }}
{{- fail "store.driver sqlite needs a PersistentVolumeClaim: set persistence.enabled true (or use store.driver postgres)" }}
{{- end }}
{{- if $s.dsn }}
{{- fail "store.dsn is set by the chart for sqlite (/data/erpgate.db on the volume); leave it empty" }}
{{- end }}
{{- else if eq $s.driver "postgres" }}
{{- if not $s.dsn }}
{{- fail "store.driver postgres needs store.dsn, e.g. postgres://erpgate:${ERPGATE_DB_PASSWORD}@postgres:5432/erpgate?sslmode=verify-full&search_path=erpgate" }}
{{- end }}
{{- else }}
{{- fail (printf "store.driver must be sqlite or postgres, not %q (memory loses every key and session at each restart)" $s.driver) }}
{{- end }}
{{- if and (not .Values.secret.existingSecret) (not .Values.secret.env) (contains "${" (cat (toYaml .Values.config) .Values.store.dsn)) }}
{{- fail "config uses ${VAR} references: set secret.existingSecret to a Secret holding them, or secret.env" }}
{{- end }}
{{- end }}

{{/*
The erpgate config file: .Values.config with listen, admin_listen,
metrics_listen (with ports.metrics) and store set from ports and store, so
the probes, Services and volume match what the binary serves.
*/}}
{{- define "erpgate.config" -}}
{{- $store := dict "driver" .Values.store.driver "timeout" .Values.store.timeout }}
{{- if eq .Values.store.driver "sqlite" }}
{{- $_ := set $store "dsn" "/data/erpgate.db" }}
{{- else }}
{{- $_ := set $store "dsn" .Values.store.dsn }}
{{- end }}
{{- $fixed := dict "listen" (printf "0.0.0.0:%d" (int .Values.ports.http)) "admin_listen" (printf "0.0.0.0:%d" (int .Values.ports.admin)) "store" $store }}
{{- if .Values.ports.metrics }}
{{- $_ := set $fixed "metrics_listen" (printf "0.0.0.0:%d" (int .Values.ports.metrics)) }}
{{- end }}
{{- $cfg := mustMergeOverwrite (deepCopy .Values.config) $fixed }}
{{- toYaml $cfg }}
{{- end }}

{{/*
Refuses listeners set in config: the chart writes them from ports, and a
metrics_listen without ports.metrics would take /metrics off the admin port
with no port or Service to reach it.
*/}}
{{- define "erpgate.checkPorts" -}}
{{- if hasKey .Values.config "metrics_listen" }}
{{- fail "config.metrics_listen is set by the chart: set ports.metrics instead" }}
{{- end }}
{{- end }}

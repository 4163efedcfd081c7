{{/* Name of the chart, overridable. */}}
{{- define "triad.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Full name: <release>-triad unless the release already says triad. */}}
{{- define "triad.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "triad.headless" -}}
{{- printf "%s-headless" (include "triad.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "triad.selectorLabels" -}}
app.kubernetes.io/name: {{ include "triad.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "triad.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "triad.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: triad
{{- end -}}

{{- define "triad.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "triad.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "triad.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/* The DNS domain of the nodes: <headless>.<namespace>.svc.<clusterDomain> */}}
{{- define "triad.peerDomain" -}}
{{- printf "%s.%s.svc.%s" (include "triad.headless" .) .Release.Namespace .Values.clusterDomain -}}
{{- end -}}

{{/* The --join list: every pod's HTTP address through the headless Service
     (empty for one replica: it forms a cluster of its own). */}}
{{- define "triad.join" -}}
{{- if gt (int .Values.replicas) 1 -}}
{{- $full := include "triad.fullname" . -}}
{{- $domain := include "triad.peerDomain" . -}}
{{- $port := int .Values.ports.http -}}
{{- $peers := list -}}
{{- range $i := until (int .Values.replicas) -}}
{{- $peers = append $peers (printf "%s-%d.%s:%d" $full $i $domain $port) -}}
{{- end -}}
{{- join "," $peers -}}
{{- end -}}
{{- end -}}

{{- define "triad.bootstrapExpect" -}}
{{- if gt (int .Values.bootstrapExpect) 0 -}}
{{- int .Values.bootstrapExpect -}}
{{- else -}}
{{- int .Values.replicas -}}
{{- end -}}
{{- end -}}

{{- define "triad.secretName" -}}
{{- if .Values.clusterSecret.existingSecret -}}
{{- .Values.clusterSecret.existingSecret -}}
{{- else -}}
{{- include "triad.fullname" . -}}
{{- end -}}
{{- end -}}

{{- define "triad.hasSecret" -}}
{{- if or .Values.clusterSecret.existingSecret .Values.clusterSecret.value -}}true{{- end -}}
{{- end -}}

{{/* The nodes' configuration file (config.yaml in the ConfigMap). */}}
{{- define "triad.config" -}}
http-addr: "0.0.0.0:{{ .Values.ports.http }}"
tempo-http-addr: "0.0.0.0:{{ .Values.ports.tempo }}"
otlp-grpc-addr: "0.0.0.0:{{ .Values.ports.otlpGrpc }}"
otlp-http-addr: "0.0.0.0:{{ .Values.ports.otlpHttp }}"
cluster-addr: "0.0.0.0:{{ .Values.ports.cluster }}"
data-dir: /var/lib/triad
retention.metrics: {{ .Values.retention.metrics | quote }}
retention.logs: {{ .Values.retention.logs | quote }}
retention.traces: {{ .Values.retention.traces | quote }}
late-write-grace: {{ .Values.lateWriteGrace | quote }}
replication-factor: {{ int .Values.replicationFactor }}
auth.enabled: {{ .Values.auth.enabled }}
{{- range $k, $v := .Values.config }}
{{ $k }}: {{ $v | toJson }}
{{- end }}
{{- end -}}

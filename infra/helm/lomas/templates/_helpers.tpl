{{/* Names and labels. */}}
{{- define "lomas.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "lomas.fullname" -}}
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

{{- define "lomas.baseLabels" -}}
app.kubernetes.io/name: {{ include "lomas.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "lomas.commonLabels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* The Lomas server pods (the trial MongoDB has component=mongodb). */}}
{{- define "lomas.selectorLabels" -}}
{{ include "lomas.baseLabels" . }}
app.kubernetes.io/component: server
{{- end }}

{{- define "lomas.labels" -}}
{{ include "lomas.commonLabels" . }}
{{ include "lomas.selectorLabels" . }}
{{- end }}

{{- define "lomas.mongodbLabels" -}}
{{ include "lomas.baseLabels" . }}
app.kubernetes.io/component: mongodb
{{- end }}

{{- define "lomas.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "lomas.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "lomas.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/* The Secret holding mongodb-url (and dataset-secrets.yaml): the chart's or an existing one. */}}
{{- define "lomas.secretName" -}}
{{- default (include "lomas.fullname" .) .Values.existingSecret }}
{{- end }}

{{- define "lomas.mongodbName" -}}
{{- printf "%s-mongodb" (include "lomas.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The external MongoDB URL, refused when empty or a placeholder: Lomas must not start
against a store nobody configured (the embedded store is for local runs only).
*/}}
{{- define "lomas.externalMongodbUrl" -}}
{{- $url := .Values.mongodbUrl | trim }}
{{- if not $url }}
{{- fail "mongodbUrl is required: set it to your MongoDB URL, or set existingSecret, or mongodb.enabled=true for a trial" }}
{{- end }}
{{- if not (regexMatch "^mongodb(\\+srv)?://[^\\s]+$" $url) }}
{{- fail "mongodbUrl must be a mongodb:// or mongodb+srv:// URL" }}
{{- end }}
{{- if regexMatch "(?i)(changeme|change-me|change_me|placeholder|example\\.(com|org|net)|<[^>]*>|\\$\\{|xxx|your[-_]?(host|password|user|cluster))" $url }}
{{- fail "mongodbUrl looks like a placeholder: set the real MongoDB URL" }}
{{- end }}
{{- $url }}
{{- end }}

{{/* The trial MongoDB's root password: kept from the release's Secret, else a new one. */}}
{{- define "lomas.mongodbPassword" -}}
{{- $secret := lookup "v1" "Secret" .Release.Namespace (include "lomas.fullname" .) }}
{{- if and $secret (hasKey ($secret.data | default dict) "mongodb-password") }}
{{- index $secret.data "mongodb-password" | b64dec }}
{{- else }}
{{- randAlphaNum 32 }}
{{- end }}
{{- end }}

{{/*
"true" when the store is SQLite, after its checks: one file on one disk serves one pod.
*/}}
{{- define "lomas.sqlite" -}}
{{- if eq .Values.store "sqlite" }}
{{- if or .Values.autoscaling.enabled (gt (int .Values.replicaCount) 1) }}
{{- fail "store=sqlite serves one pod (one file on one disk): set replicaCount=1 and autoscaling.enabled=false, or store=mongodb for several" }}
{{- end }}
{{- if .Values.podDisruptionBudget.enabled }}
{{- fail "store=sqlite serves one pod, which a PodDisruptionBudget would keep from being evicted: set podDisruptionBudget.enabled=false" }}
{{- end }}
{{- if or .Values.mongodb.enabled .Values.mongodbUrl }}
{{- fail "store=sqlite keeps everything in its file: leave mongodbUrl empty and mongodb.enabled=false" }}
{{- end }}
{{- "true" }}
{{- end }}
{{- end }}

{{- define "lomas.sqliteClaim" -}}
{{- default (printf "%s-state" (include "lomas.fullname" .) | trunc 63 | trimSuffix "-") .Values.sqlite.persistence.existingClaim }}
{{- end }}

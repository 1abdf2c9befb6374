{{/* Names, labels and the pieces every workload shares. */}}

{{- define "portcullis.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "portcullis.fullname" -}}
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

{{- define "portcullis.controlPlaneName" -}}
{{- printf "%s-control-plane" (include "portcullis.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "portcullis.authzName" -}}
{{- printf "%s-authz" (include "portcullis.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "portcullis.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/name: {{ include "portcullis.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: portcullis
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Selector labels of one component: call with (dict "root" $ "component" "control-plane"). */}}
{{- define "portcullis.selectorLabels" -}}
app.kubernetes.io/name: {{ include "portcullis.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "portcullis.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "portcullis.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "portcullis.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{/* True (non-empty) when a shared database is configured. */}}
{{- define "portcullis.hasDatabase" -}}
{{- if or .Values.secrets.databaseUrl.existingSecret .Values.secrets.databaseUrl.value -}}true{{- end -}}
{{- end -}}

{{/*
One environment variable read from a Secret: the operator's (existingSecret) or the chart's own (value).
Call with (dict "root" $ "env" "PORTCULLIS_X" "secret" .Values.secrets.x). Renders nothing when neither is set.
*/}}
{{- define "portcullis.secretEnv" -}}
{{- if .secret.existingSecret }}
- name: {{ .env }}
  valueFrom:
    secretKeyRef:
      name: {{ .secret.existingSecret }}
      key: {{ .secret.key }}
{{- else if .secret.value }}
- name: {{ .env }}
  valueFrom:
    secretKeyRef:
      name: {{ include "portcullis.fullname" .root }}
      key: {{ .secret.key }}
{{- end }}
{{- end -}}

{{/* The graceful-shutdown hook: hold the pod while endpoints stop sending it traffic. */}}
{{- define "portcullis.preStop" -}}
lifecycle:
  preStop:
    exec:
      command: ["sleep", "{{ . }}"]
{{- end -}}

{{/* Annotations that roll the pods when their configuration or chart-managed secrets change. */}}
{{- define "portcullis.configChecksums" -}}
checksum/config: {{ include (print .Template.BasePath "/configmap.yaml") . | sha256sum }}
checksum/secret: {{ include (print .Template.BasePath "/secret.yaml") . | sha256sum }}
{{- end -}}

{{/* Every combination of values the schema cannot rule out on its own, refused with a message that says why. */}}
{{- define "portcullis.validate" -}}
{{- if not (or .Values.secrets.keyPepper.existingSecret .Values.secrets.keyPepper.value) -}}
{{- fail "secrets.keyPepper: set existingSecret (recommended) or value; both services hash API keys with it" -}}
{{- end -}}
{{- if and (eq .Values.authz.stateSource "sync") (not (or .Values.secrets.syncToken.existingSecret .Values.secrets.syncToken.value)) -}}
{{- fail "secrets.syncToken: required when authz.stateSource is sync" -}}
{{- end -}}
{{- if and .Values.syncTls.enabled (not .Values.syncTls.secretName) -}}
{{- fail "syncTls.secretName: required when syncTls.enabled is true (a kubernetes.io/tls Secret with ca.crt)" -}}
{{- end -}}
{{- if and .Values.syncTls.enabled (not (or .Values.secrets.syncToken.existingSecret .Values.secrets.syncToken.value)) -}}
{{- fail "syncTls.enabled needs secrets.syncToken: TLS proves the control plane to data planes, the token proves data planes to it" -}}
{{- end -}}
{{- if and (eq .Values.authz.stateSource "file") (not .Values.authz.stateConfigMap.name) -}}
{{- fail "authz.stateConfigMap.name: required when authz.stateSource is file" -}}
{{- end -}}
{{- if and (gt (int .Values.controlPlane.replicas) 1) (not (include "portcullis.hasDatabase" .)) -}}
{{- fail "controlPlane.replicas > 1 needs secrets.databaseUrl: the embedded database cannot be shared" -}}
{{- end -}}
{{- if and (eq .Values.config.kms.provider "aws-kms") (not (and .Values.config.kms.keyId .Values.config.kms.awsRegion)) -}}
{{- fail "config.kms.keyId and config.kms.awsRegion are required for the aws-kms provider" -}}
{{- end -}}
{{- if le (int .Values.authz.terminationGracePeriodSeconds) (int .Values.authz.preStopSleepSeconds) -}}
{{- fail "authz.terminationGracePeriodSeconds must exceed authz.preStopSleepSeconds, or pods are killed before they drain" -}}
{{- end -}}
{{- if le (int .Values.controlPlane.terminationGracePeriodSeconds) (int .Values.controlPlane.preStopSleepSeconds) -}}
{{- fail "controlPlane.terminationGracePeriodSeconds must exceed controlPlane.preStopSleepSeconds" -}}
{{- end -}}
{{- if and .Values.authz.autoscaling.enabled (lt (int .Values.authz.autoscaling.maxReplicas) (int .Values.authz.autoscaling.minReplicas)) -}}
{{- fail "authz.autoscaling.maxReplicas must be at least minReplicas" -}}
{{- end -}}
{{- end -}}

{{/* The chart name, or nameOverride. */}}
{{- define "farmem.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* release-chart, shortened to leave room for suffixes such as -operator (63-char names). */}}
{{- define "farmem.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 50 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 50 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 50 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "farmem.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/part-of: farmem
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* Selects the operator pods of this release; never changes across upgrades. */}}
{{- define "farmem.operator.selectorLabels" -}}
app.kubernetes.io/name: farmem-operator
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "farmem.operator.fullname" -}}
{{- printf "%s-operator" (include "farmem.fullname" .) }}
{{- end }}

{{- define "farmem.operator.serviceAccountName" -}}
{{- default (include "farmem.operator.fullname" .) .Values.operator.serviceAccount.name }}
{{- end }}

{{- define "farmem.agent.serviceAccountName" -}}
{{- default (printf "%s-agent" (include "farmem.fullname" .)) .Values.agent.serviceAccount.name }}
{{- end }}

{{- define "farmem.webhook.fullname" -}}
{{- printf "%s-webhook" (include "farmem.fullname" .) }}
{{- end }}

{{/* repository:tag of one image; the tag defaults to the chart's appVersion. */}}
{{- define "farmem.image" -}}
{{- $img := index .root.Values.images .component }}
{{- printf "%s:%s" $img.repository (default .root.Chart.AppVersion $img.tag) }}
{{- end }}

{{/* Whether the Prometheus Operator kind given as .kind may be rendered. */}}
{{- define "farmem.monitoring.crdPresent" -}}
{{- if or (not .root.Values.monitoring.requireCrds) (.root.Capabilities.APIVersions.Has (printf "monitoring.coreos.com/v1/%s" .kind)) }}true{{ end }}
{{- end }}

{{/* The restricted Pod Security Standard, for every container the chart runs. */}}
{{- define "farmem.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
capabilities:
  drop: [ALL]
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/*
The webhook's serving certificate as Secret data (tls.crt, tls.key, ca.crt), base64. Generated once
per render and cached on the root context so that the Secret, the caBundle and the Deployment's
checksum agree. Every install or upgrade makes a new one (the checksum then rolls the operator);
webhook.tls operator (the default) or cert-manager keeps one certificate across upgrades.
*/}}
{{- define "farmem.webhook.tls" -}}
{{- if not (hasKey . "farmemWebhookTLS") }}
{{- $svc := printf "%s.%s.svc" (include "farmem.webhook.fullname" .) .Release.Namespace }}
{{- $ca := genCA "farmem-webhook-ca" 3650 }}
{{- $cert := genSignedCert $svc nil (list $svc (printf "%s.cluster.local" $svc)) 3650 $ca }}
{{- $_ := set . "farmemWebhookTLS" (dict "tls.crt" ($cert.Cert | b64enc) "tls.key" ($cert.Key | b64enc) "ca.crt" ($ca.Cert | b64enc)) }}
{{- end }}
{{- toYaml .farmemWebhookTLS }}
{{- end }}

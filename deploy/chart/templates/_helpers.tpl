{{/* Names and labels shared by the chart's objects. */}}

{{- define "lake.fullname" -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "lake.instanceConfigMap" -}}
{{- printf "%s-instance" (include "lake.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "lake.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "lake.selector" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: code-server
{{- end -}}

{{- define "lake.image" -}}
{{- printf "%s:%s" .Values.image.repository .Values.image.tag -}}
{{- end -}}

{{/*
The environment of every Dagster process of the chart: DAGSTER_HOME with the instance mounted in it,
and Dagster's database password from its Secret.
*/}}
{{- define "lake.dagsterEnv" -}}
- name: DAGSTER_HOME
  value: {{ .Values.dagsterHome | quote }}
- name: DAGSTER_PG_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ .Values.postgresql.passwordSecret }}
      key: postgresql-password
{{- end -}}

{{- define "lake.instanceVolume" -}}
- name: dagster-instance
  configMap:
    name: {{ include "lake.instanceConfigMap" . }}
{{- end -}}

{{- define "lake.instanceMount" -}}
- name: dagster-instance
  mountPath: {{ printf "%s/dagster.yaml" .Values.dagsterHome | quote }}
  subPath: dagster.yaml
{{- end -}}

{{/*
Kubernetes Pod Security "restricted": the pod runs as the image's non-root user with the runtime's default
seccomp profile; each container may not escalate privileges and drops every capability.
*/}}
{{- define "lake.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .Values.image.uid }}
runAsGroup: {{ .Values.image.uid }}
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "lake.containerSecurityContext" -}}
allowPrivilegeEscalation: false
capabilities:
  drop: ["ALL"]
{{- end -}}

{{- define "lake.imagePullSecrets" -}}
{{- range .Values.image.pullSecrets }}
- name: {{ . }}
{{- end }}
{{- end -}}

{{/* Where a pod goes: the nodeSelector, tolerations and affinity of a values section (codeLocation, runWorker). */}}
{{- define "lake.scheduling" -}}
{{- with .nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/*
What the code server hands to K8sRunLauncher for every run of its code (Dagster's container context): the run
pods take the S3 role's service account, the settings Secret and their resources from here, whatever the
launcher's own defaults in Dagster's chart.
*/}}
{{- define "lake.containerContext" -}}
{{- $run := .Values.runWorker -}}
{{- $pullSecrets := list -}}
{{- range .Values.image.pullSecrets }}{{ $pullSecrets = append $pullSecrets (dict "name" .) }}{{ end -}}
{{- $podSpec := dict "security_context" (include "lake.podSecurityContext" . | fromYaml) -}}
{{- with $run.nodeSelector }}{{ $_ := set $podSpec "node_selector" . }}{{ end -}}
{{- with $run.tolerations }}{{ $_ := set $podSpec "tolerations" . }}{{ end -}}
{{- with $run.affinity }}{{ $_ := set $podSpec "affinity" . }}{{ end -}}
{{- $context := dict "k8s" (dict
      "service_account_name" .Values.serviceAccount.name
      "env_secrets" (list .Values.settingsSecret)
      "image_pull_policy" .Values.image.pullPolicy
      "image_pull_secrets" $pullSecrets
      "env" $run.extraEnv
      "volumes" $run.extraVolumes
      "volume_mounts" $run.extraVolumeMounts
      "run_k8s_config" (dict
        "container_config" (dict "resources" $run.resources
                                 "security_context" (include "lake.containerSecurityContext" . | fromYaml))
        "pod_template_spec_metadata" (dict "annotations" $run.podAnnotations "labels" $run.podLabels)
        "pod_spec_config" $podSpec
        "job_spec_config" (dict "ttl_seconds_after_finished" $run.ttlSecondsAfterFinished))) -}}
{{- $context | toJson -}}
{{- end -}}

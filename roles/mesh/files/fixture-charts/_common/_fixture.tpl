{{/*
FIXTURE chart helpers (gitops.progressive, simulated platform only). Every object a
fixture chart makes carries gitops.progressive/fixture: "true".
*/}}
{{- define "fixture.labels" -}}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/instance: {{ .Release.Name }}
helm.sh/chart: {{ .Chart.Name }}-{{ .Chart.Version }}
gitops.progressive/fixture: "true"
{{- end }}

{{/* A Deployment with one container: (list $ name image labels). */}}
{{- define "fixture.deployment" -}}
{{- $root := index . 0 -}}
{{- $name := index . 1 -}}
{{- $labels := index . 3 -}}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ $name }}
  namespace: {{ $root.Release.Namespace }}
  labels:
    {{- include "fixture.labels" $root | nindent 4 }}
    {{- toYaml $labels | nindent 4 }}
spec:
  replicas: 1
  selector:
    matchLabels:
      {{- toYaml $labels | nindent 6 }}
  template:
    metadata:
      labels:
        {{- toYaml $labels | nindent 8 }}
    spec:
      containers:
        - name: {{ $name }}
          image: {{ index . 2 }}
{{- end }}

{{/* A Service selecting labels: (list $ name labels ports type). */}}
{{- define "fixture.service" -}}
{{- $root := index . 0 -}}
apiVersion: v1
kind: Service
metadata:
  name: {{ index . 1 }}
  namespace: {{ $root.Release.Namespace }}
  labels:
    {{- include "fixture.labels" $root | nindent 4 }}
spec:
  type: {{ index . 4 | default "ClusterIP" }}
  selector:
    {{- toYaml (index . 2) | nindent 4 }}
  ports:
    {{- toYaml (index . 3) | nindent 4 }}
{{- end }}

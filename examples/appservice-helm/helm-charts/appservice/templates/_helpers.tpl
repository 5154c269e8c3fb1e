{{- define "appservice.labels" -}}
app.kubernetes.io/name: {{ .Release.Name }}
app.kubernetes.io/managed-by: appservice-operator
{{- end }}

{{- define "rd.name" -}}{{ .Release.Name }}{{- end }}
{{- define "rd.labels" -}}
app.kubernetes.io/name: release-drills-runner
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}
{{- define "rd.selector" -}}
app.kubernetes.io/name: release-drills-runner
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}
{{- define "rd.configMapName" -}}
{{ default (printf "%s-config" .Release.Name) .Values.config.existingConfigMap }}
{{- end }}
{{- define "rd.args" -}}
- "--target"
- {{ .Values.target.name | quote }}
- "--targets"
- "/config-target/targets.yaml"
- "--report-dir"
- "/data/reports"
- "--history"
- "/data/history.sqlite"
{{- end }}

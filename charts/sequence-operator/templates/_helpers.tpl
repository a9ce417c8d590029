{{/* Chart name, overridable. */}}
{{- define "sequence-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Release-qualified name; the release name alone when it already contains the chart name. */}}
{{- define "sequence-operator.fullname" -}}
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

{{- define "sequence-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "sequence-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end }}

{{- define "sequence-operator.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "sequence-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: sequence
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "sequence-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "sequence-operator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* repository@digest when a digest is set, else repository:tag with the tag defaulting to the chart's
appVersion. Call with (list $ .Values.x.image). */}}
{{- define "sequence-operator.imageRef" -}}
{{- $root := index . 0 }}
{{- $image := index . 1 }}
{{- if $image.digest }}
{{- printf "%s@%s" $image.repository $image.digest }}
{{- else }}
{{- printf "%s:%s" $image.repository (default $root.Chart.AppVersion $image.tag) }}
{{- end }}
{{- end }}

{{- define "sequence-operator.image" -}}
{{- include "sequence-operator.imageRef" (list . .Values.image) }}
{{- end }}

{{- define "sequence-operator.edgeImage" -}}
{{- include "sequence-operator.imageRef" (list . .Values.edgeDefaults.image) }}
{{- end }}

{{- define "sequence-operator.cmpImage" -}}
{{- $sidecar := .Values.argocd.cmpSidecar.image }}
{{- $image := dict "repository" (default .Values.image.repository $sidecar.repository) "tag" (default .Values.image.tag $sidecar.tag) }}
{{- include "sequence-operator.imageRef" (list . $image) }}
{{- end }}

{{- define "sequence-operator.cmpConfigMapName" -}}
{{- printf "%s-argocd-cmp" (include "sequence-operator.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Where the settings ConfigMap is mounted in the operator container. */}}
{{- define "sequence-operator.settingsPath" -}}
/etc/sequence/operator/settings.yaml
{{- end }}

{{/*
Rules the operator needs inside every namespace it watches. Used by the cluster-wide ClusterRole and by
the per-namespace Roles, so both modes grant the same verbs. No `update` anywhere except finalizers:
kopf and the reconcilers write with PATCH only. No wildcards.
*/}}
{{- define "sequence-operator.namespacedRules" -}}
# The four kinds: kopf watches (get/list/watch) and patches them for its progress annotations and
# finalizers; the operator creates the default sandbox VenueEdge of a venue and deletes objects it owns.
- apiGroups: ["sequence.dev"]
  resources: ["algodeployments", "meshgroups", "executiongraphs", "venueedges"]
  verbs: ["get", "list", "watch", "create", "patch", "delete"]
# Status is a subresource: conditions, lifecycleState, per-edge state are written with PATCH.
- apiGroups: ["sequence.dev"]
  resources: ["algodeployments/status", "meshgroups/status", "executiongraphs/status", "venueedges/status"]
  verbs: ["get", "patch"]
# Children carry ownerReferences with blockOwnerDeletion=true; with the OwnerReferencesPermissionEnforcement
# admission plugin (e.g. OpenShift) that needs `update` on the owner's finalizers subresource.
- apiGroups: ["sequence.dev"]
  resources: ["algodeployments/finalizers", "meshgroups/finalizers", "executiongraphs/finalizers", "venueedges/finalizers"]
  verbs: ["update"]
# Edge and coordinator Deployments: created, watched for rollout state, patched on spec changes, deleted.
- apiGroups: ["apps"]
  resources: ["deployments"]
  verbs: ["get", "list", "watch", "create", "patch", "delete"]
# Services for the edges' and the coordinator's control APIs; ConfigMaps hold algorithm bundles.
- apiGroups: [""]
  resources: ["services", "configmaps"]
  verbs: ["get", "list", "watch", "create", "patch", "delete"]
# Edge pods: watched (by label) to reach each edge's control API and report per-edge status. Read only.
- apiGroups: [""]
  resources: ["pods"]
  verbs: ["get", "list", "watch"]
# Venue credentials: read one Secret by the name a live VenueEdge gives; the namespace's `sequence-token`
# Secret: read, and created once when absent (never patched: rotation is the user's deletion). No
# list/watch, so the operator cannot enumerate Secrets or see any it was not pointed at.
- apiGroups: [""]
  resources: ["secrets"]
  verbs: ["get", "create"]
# NetworkPolicies next to edge and coordinator pods: who may reach their ports.
- apiGroups: ["networking.k8s.io"]
  resources: ["networkpolicies"]
  verbs: ["get", "create", "patch", "delete"]
# kopf posts Kubernetes Events on the objects it handles (and patches repeated ones).
- apiGroups: [""]
  resources: ["events"]
  verbs: ["create", "patch"]
{{- end }}

{{/* The operator's settings file (YAML). Keys are camelCase like the CRDs. */}}
{{- define "sequence-operator.settings" -}}
{{- $edge := .Values.edgeDefaults }}
{{- $settings := dict
  "healthPort" 8080
  "metricsPort" 9090
  "edgeDefaults" (dict
    "image" (include "sequence-operator.edgeImage" .)
    "imagePullPolicy" $edge.image.pullPolicy
    "imagePullSecrets" .Values.imagePullSecrets
    "resources" (include "sequence-operator.stringQuantities" $edge.resources | fromYaml)
    "nodeSelector" $edge.nodeSelector
    "tolerations" $edge.tolerations
    "priorityClassName" $edge.priorityClassName
    "createSandboxEdges" $edge.createSandboxEdges
    "controlPort" 7070)
  "coordinatorDefaults" (dict
    "image" (include "sequence-operator.edgeImage" .)
    "imagePullPolicy" $edge.image.pullPolicy
    "port" 7171)
  "networkPolicies" (dict
    "enabled" .Values.networkPolicy.enabled
    "operatorNamespace" .Release.Namespace
    "operatorPodLabels" (include "sequence-operator.selectorLabels" . | fromYaml)
    "metricsNamespace" .Values.networkPolicy.metricsNamespace)
}}
{{- toYaml $settings }}
{{- end }}

{{/* Resource requests/limits with every quantity as a string (`cpu: 2` -> "2"), the form the operator parses. */}}
{{- define "sequence-operator.stringQuantities" -}}
{{- $out := dict }}
{{- range $section, $quantities := . }}
{{- $converted := dict }}
{{- range $resource, $quantity := $quantities }}
{{- $_ := set $converted $resource (toString $quantity) }}
{{- end }}
{{- $_ := set $out $section $converted }}
{{- end }}
{{- toYaml $out }}
{{- end }}

"""What the control plane produces from a Sequence.toml and the models.

- `render`: Sequence.toml -> Kubernetes objects (`sequence render`, Argo CD's plugin);
- `crdgen`: the CustomResourceDefinitions from the pydantic models (`sequence crds`);
- `argocd`: the Argo CD health checks (`sequence crds --write`);
- `edge_spec`: a spec as `sequence edge` flags and as a control API push body, shared by the
  operator and `sequence up` so a cluster and a laptop run an edge the same way.
"""

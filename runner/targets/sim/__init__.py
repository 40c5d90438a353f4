"""The embedded simulated cluster (``--target sim``): Kubernetes workloads, a kubelet, Argo CD,
Helm and Git in memory on a virtual clock. See ``target.SimTarget``."""

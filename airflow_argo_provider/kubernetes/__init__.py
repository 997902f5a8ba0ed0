"""The Kubernetes backend: Argo container and script templates as pods.

Pure parts (no Airflow, no cluster): :mod:`.pod` builds the pod of one invocation,
:mod:`.patch` applies ``podSpecPatch`` with Kubernetes' strategic-merge rules,
:mod:`.capture` is the in-pod layout that brings stdout, the exit code and output files
back, :mod:`.status` turns a finished pod into Argo's phase, :mod:`.resources` holds the
run-level objects (volume claims, pod garbage collection) and :mod:`.preview` prepares
invocations with placeholders for ``airflow-argo render``. The Airflow side is
:mod:`airflow_argo_provider.operators.kubernetes`.

Nothing here is imported by the local backend: the Kubernetes client is loaded only when a
pod is built.
"""

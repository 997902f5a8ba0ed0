"""Argo artifacts: input and output files of steps, stored in S3 (or read over HTTP, or raw).

One job per module:

- :mod:`.model`: a resolved artifact of one invocation (``InputArtifact``, ``OutputArtifact``)
  and its location (a plain dict in Argo's field names, as Argo records it);
- :mod:`.repository`: the default artifact repository (``artifactRepositoryRef``, template
  ``archiveLocation``, ``[argo] artifact_repository``) and Argo's key format;
- :mod:`.resolve`: at prepare time, where each input comes from (``from``, ``fromExpression``,
  arguments, key-only locations) and where each output goes;
- :mod:`.archive`: Argo's ``none``/``tar``/``zip`` packing and unpacking, as streams;
- :mod:`.s3`, :mod:`.http`, :mod:`.stores`: the stores (streaming multipart uploads and
  streaming downloads), :mod:`.clients`: S3 clients and their credentials;
- :mod:`.staging`: inputs into place before a step, outputs to the store after it, and Argo's
  rules for missing or optional outputs;
- :mod:`.agent`: the same staging inside a Kubernetes pod (``python -m
  airflow_argo_provider.artifacts.agent``).

Only locations travel through XCom; file contents never do. See docs/aws.md.
"""

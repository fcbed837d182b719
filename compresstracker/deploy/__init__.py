"""Deployment: export of tracker networks to graphs, quantisation, and the runtime backends that run them.

Its place in the data flow: models -> checkpoints -> tracking -> deploy -> evaluation -> ... The
tracker, ``ctrack track|eval|bench|export`` get their network, choices and export formats from here
only; families (:mod:`.family`, registered by each family's plug-in) and backends (:mod:`.backends`) are registries, so a new model
family (e.g. a two-graph tracker) or runtime is one module that registers itself, imported below
once, not a change to the tracker or the commands.

Modules import one way: family <- onnx <- quantize; family <- backends <- pytorch, onnxruntime
(with onnx, quantize), openvino (with onnx, calibration).
"""
from compresstracker.deploy import pytorch as _pytorch  # noqa: F401  (registers the torch backend, first: the default)
from compresstracker.deploy import onnxruntime as _onnxruntime  # noqa: F401  (registers the ONNX Runtime backend)
from compresstracker.deploy import openvino as _openvino  # noqa: F401  (registers the OpenVINO backend)
from compresstracker.deploy.backends import (
    Backend,
    Network,
    all_precisions,
    backend_names,
    calib_applies,
    calib_only,
    check_backend,
    default_backend,
    deployed_backend,
    export_backend,
    export_formats,
    get_backend,
    load_network,
    pick_backend,
    register_backend,
    unregister_backend,
)
from compresstracker.deploy.family import DeployedFile, DeployFamily, Graph, GraphNetwork, deploy_family_of, register_deploy_family

__all__ = [
    "Backend", "DeployFamily", "DeployedFile", "Graph", "GraphNetwork", "Network", "all_precisions", "backend_names", "calib_applies",
    "calib_only", "check_backend", "default_backend", "deployed_backend", "export_backend", "export_formats", "deploy_family_of", "get_backend", "load_network",
    "pick_backend", "register_backend", "register_deploy_family", "unregister_backend",
]

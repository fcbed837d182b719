"""Deployment: export of tracker networks to graphs, quantisation, and the runtime backends that run them.

Its place in the data flow: models -> checkpoints -> tracking -> deploy -> evaluation -> ... The
tracker, ``ctrack track|eval|bench`` get their network from :func:`load_network` only; families
(:mod:`.family`, registered by each family's plug-in) and backends (:mod:`.backends`) are
registries, so a new model family (e.g. a two-graph tracker) or runtime is one registration, not a
change to the tracker or the commands.
"""
from compresstracker.deploy import openvino as _openvino  # noqa: F401  (registers the OpenVINO backend)
from compresstracker.deploy.backends import (
    Backend,
    Network,
    backend_names,
    calib_applies,
    check_backend,
    deployed_backend,
    get_backend,
    load_network,
    register_backend,
)
from compresstracker.deploy.family import DeployedFile, DeployFamily, Graph, GraphNetwork, family_of, register_family

__all__ = [
    "Backend", "DeployFamily", "DeployedFile", "Graph", "GraphNetwork", "Network", "backend_names", "calib_applies", "check_backend",
    "deployed_backend", "family_of", "get_backend", "load_network", "register_backend", "register_family",
]

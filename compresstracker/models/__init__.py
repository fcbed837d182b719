"""The model registry: families (registered by their plug-ins under ``compresstracker/families``) and named architectures."""
from compresstracker.models.registry import (
    ModelFamily, build_model, check_config, config_from_dict, default_family, family_of, get_config, get_family, list_families, list_models, register,
    register_family, resolve_config,
)

__all__ = [
    "ModelFamily", "build_model", "check_config", "config_from_dict", "default_family", "family_of", "get_config", "get_family", "list_families", "list_models",
    "register", "register_family", "resolve_config",
]

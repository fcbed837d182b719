"""One-shot architecture search: search spaces (registered by the families' plug-ins), cost tables, evolutionary search."""
from compresstracker.search.space import SearchSpace, space_for

__all__ = ["SearchSpace", "space_for"]

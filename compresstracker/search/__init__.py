"""One-shot architecture search (LightTrack): search spaces, SPOS supernet training, evolutionary search."""
from compresstracker.search import lighttrack_space  # noqa: F401 (registers the LightTrack space)
from compresstracker.search.space import SearchSpace, space_for

__all__ = ["SearchSpace", "space_for"]

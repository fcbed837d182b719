"""The registered search spaces: LightTrack at its paper size and a tiny one of the same shape."""
from __future__ import annotations

from compresstracker.models.lighttrack_arch import LightTrackConfig
from compresstracker.search.space import get_space, list_spaces, register_space
from compresstracker.search.supernet import LightTrackSpace

__all__ = ["get_space", "list_spaces"]

# The tiny space: the same genes and layout, narrow channels and small inputs (tests, CPU demos).
TINY = LightTrackConfig(
    name="lighttrack_tiny", stem_channels=8, stage_channels=(8, 16, 24, 32), head_widths=(16, 24, 32),
    adj_channels=16, template_size=64, search_size=128,
)

register_space("lighttrack", lambda: LightTrackSpace("lighttrack", LightTrackConfig()),
               "LightTrack (CVPR 2021): 14 MBConv blocks x 6, output block, two heads; 128/256 inputs")
register_space("lighttrack_tiny", lambda: LightTrackSpace("lighttrack_tiny", TINY),
               "LightTrack's space with narrow channels and 64/128 inputs (tests, CPU demos)")

"""What every patch-token ViT tracker's config derives from its sizes: the template and search grids."""
from __future__ import annotations

__all__ = ["PatchGrid"]


class PatchGrid:
    """Grid sides and token counts of a config with ``template_size``, ``search_size`` and ``patch_size``."""

    template_size: int
    search_size: int
    patch_size: int

    @property
    def template_feat(self) -> int:
        return self.template_size // self.patch_size

    @property
    def search_feat(self) -> int:
        return self.search_size // self.patch_size

    @property
    def num_template_tokens(self) -> int:
        """Tokens of one template."""
        return self.template_feat**2

    @property
    def num_search_tokens(self) -> int:
        return self.search_feat**2

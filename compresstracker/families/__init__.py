"""Tracker families as plug-ins: each family (its architecture, named configs, checkpoint formats,
tracking loop and presets) lives in one package ``compresstracker.families.<name>``."""

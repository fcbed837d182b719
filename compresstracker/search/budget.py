"""Budget numbers as people write them: 600M MACs, 2M params, 1.5G, 2e6, 800k."""
from __future__ import annotations

from compresstracker.errors import ConfigError

_SUFFIX = {"": 1, "k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12}


def parse_count(text: str | int | float, what: str = "number") -> int:
    """'600M' -> 600_000_000; '2e6' -> 2_000_000; a ConfigError for anything else or a value <= 0."""
    raw = str(text).strip().replace("_", "").replace(",", "")
    suffix = raw[-1:].lower() if raw[-1:].isalpha() else ""
    try:
        value = float(raw[: len(raw) - len(suffix)]) * _SUFFIX[suffix]
    except (KeyError, ValueError):
        raise ConfigError(f"{what} {text!r} is not a count like 600M, 2M, 1.5G or 2000000") from None
    if value <= 0:
        raise ConfigError(f"{what} must be > 0, got {text!r}")
    return int(round(value))

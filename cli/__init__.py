"""The ``ctrack`` command line: one click module per command group (importable as compresstracker.cli)."""

"""Other toolkits' tracker interfaces over :class:`compresstracker.Tracker`: GOT-10k (``got10k``)
and the VOT toolkit's TraX protocol (``vot``). Each module imports its toolkit, an optional extra:
``pip install 'ctrack[got10k]'`` / ``'ctrack[vot]'``."""

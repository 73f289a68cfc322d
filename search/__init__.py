"""The driver side: sweep config, search space, preflight checks, Tuner, summary, report.

Entry point: ``python -m search.run``. This package file stays empty so that loading a config does
not import Ray.
"""

__all__: list[str] = []

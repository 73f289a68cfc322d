"""The driver side: the sweep config and its search space, the preflight checks, the sweep
itself on Ray Tune with Optuna, its summary, and the report (``search.report``).

Entry points: ``python -m search.run`` (a sweep), ``python -m search.report`` (the verdict),
``python -m search.trial`` (one training), ``python -m search.compare`` (fixed setups over seeds).
This package file stays empty so that loading a config does not import Ray.
"""

__all__: list[str] = []

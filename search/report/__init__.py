"""The report: read a finished sweep from MLflow, re-train its top criteria over seeds
(``confirmation``), rank them with simultaneous intervals (``statistics``) and write the verdict
with its evidence (``tables``, ``plots``, ``content``, ``render``; ``build`` runs the whole).

Entry point: ``python -m search.report`` (``cli``). This package file stays empty so that the
statistics can be imported without MLflow or Ray.
"""

__all__: list[str] = []

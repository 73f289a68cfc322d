"""What the driver and the trial share: config files and settings, which way each metric is
better, Ray Tune and MLflow, each wrapped in one module so an upgrade touches one file.

Import from the submodules; this package file stays empty so that loading a config does not
import Ray or MLflow.
"""

__all__: list[str] = []

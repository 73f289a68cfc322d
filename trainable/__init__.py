"""What one trial does: prepare KLUE RE, fine-tune with a criterion, evaluate, report.

Import from the submodules (``trainable.train.train_fn``, ``trainable.metrics.klue_re_metrics``,
``trainable.common.settings.TrialSettings``); this package file stays empty so that reading settings
does not import torch.
"""

__all__: list[str] = []

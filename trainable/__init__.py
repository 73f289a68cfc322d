"""What one trial does: prepare KLUE RE, fine-tune with a criterion, evaluate, report
(``train.train_fn``, the Ray Tune trainable); ``common/`` holds what the driver shares with it.

Import from the submodules (``trainable.train.train_fn``, ``trainable.metrics.klue_re_metrics``);
this package file stays empty so that importing one of them does not import the rest.
"""

__all__: list[str] = []

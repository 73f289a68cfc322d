"""The registered model's code: an MLflow ``pyfunc`` over a relation-model folder.

Logged as MLflow "models from code" (this file travels with the model; nothing is pickled):
``mlflow.pyfunc.load_model``, ``python -m search.predict`` and ``mlflow models serve`` all run
``RelationPyfunc.predict``. No stock pipeline fits: the encoder has our entity head.

Input: a frame with ``sentence``, ``subject_entity`` and ``object_entity`` in KLUE's record form
(``{"word", "start_idx", "end_idx", "type"}``; ``end_idx`` inclusive). Output: ``pred_label`` and
one probability column per label, in KLUE's label order. A record that fails KLUE's checks is
refused with its row number and the problem.
"""

from __future__ import annotations

from pathlib import Path

import mlflow
import pandas as pd

MODEL_ARTIFACT = "relation_model"


class RelationPyfunc(mlflow.pyfunc.PythonModel):
    def load_context(self, context) -> None:
        from trainable.relation_model import load_relation_model

        self.relation_model = load_relation_model(Path(context.artifacts[MODEL_ARTIFACT]))

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        from trainable.records import parse_input_records
        from trainable.relation_model import predict_frame

        return predict_frame(
            self.relation_model, parse_input_records(model_input.to_dict("records"))
        )


mlflow.models.set_model(RelationPyfunc())

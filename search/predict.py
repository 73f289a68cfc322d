"""``python -m search.predict --model models:/NAME@champion --input FILE --out predictions.csv``.

Runs a registered relation model (the report registers the winner as ``@champion``) on a KLUE
RE file (official JSON, or the boostcamp CSV layout) and writes ``id, pred_label, probs``:
``probs`` is the list of the 30 probabilities in KLUE's label order, the form the KLUE RE
competitions take. When every record carries a KLUE label, it also prints KLUE micro-F1 and
AUPRC. Predictions go through the model's own pyfunc, as ``mlflow models serve`` answers.
Exit codes: 0 done, 2 bad input (file, record, model URI), 130 interrupted.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from trainable.common.cli import run_cli
from trainable.common.tracking.client import probe_store
from trainable.records import DataError, parse_input_records, read_raw_records

INPUT_COLUMNS = ("sentence", "subject_entity", "object_entity")


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    return run_cli(lambda: _predict(args), interrupted="nothing written")


def _predict(args: argparse.Namespace) -> int:
    from search.tracking import load_registered_model

    rows = _read_input(Path(args.input))
    model = load_registered_model(_tracking_uri(args.tracking_uri), args.model)
    predictions = model.predict(pd.DataFrame(rows, columns=list(INPUT_COLUMNS)))
    label_names = [column for column in predictions.columns if column != "pred_label"]
    _write(rows, predictions, label_names, Path(args.out))
    print(f"{len(rows)} predictions written to {args.out}")
    scores = _scores(rows, predictions, label_names)
    if scores:
        print(scores)
    return 0


def _read_input(path: Path) -> list[dict]:
    """The file's records, each checked as training data is (the first bad one stops it)."""
    rows = read_raw_records(path)
    try:
        parse_input_records(rows)
    except DataError as error:
        raise DataError(f"{path}: {error}") from None
    if not rows:
        raise DataError(f"{path}: no records")
    return rows


def _tracking_uri(flag: str | None) -> str:
    """The flag, else ``$MLFLOW_TRACKING_URI``, else the quickstart's ``sqlite:///mlflow.db``;
    checked before the model is looked up (``probe_store``)."""
    uri = flag or os.environ.get("MLFLOW_TRACKING_URI") or "sqlite:///mlflow.db"
    probe_store(uri, "--tracking-uri")
    return uri


def _write(rows: list[dict], predictions: pd.DataFrame, labels: list[str], out: Path) -> None:
    ids = [row.get("guid", row.get("id", index)) for index, row in enumerate(rows)]
    probs = [json.dumps([float(p) for p in row]) for row in predictions[labels].to_numpy()]
    frame = pd.DataFrame({"id": ids, "pred_label": predictions["pred_label"], "probs": probs})
    out.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(out, index=False)


def _scores(rows: list[dict], predictions: pd.DataFrame, labels: list[str]) -> str | None:
    """KLUE micro-F1 and AUPRC when every record has a known label; else None."""
    from trainable.metrics import klue_re_metrics

    index = {name: i for i, name in enumerate(labels)}
    if not all(row.get("label") in index for row in rows):
        return None
    gold = np.array([index[row["label"]] for row in rows])
    log_probs = np.log(np.clip(predictions[labels].to_numpy(dtype=np.float64), 1e-300, None))
    scores = klue_re_metrics(log_probs, gold, labels)
    return f"micro_f1 {scores['micro_f1']:.2f} | auprc {scores['auprc']:.2f}"


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m search.predict", description="Predict relations with a registered model."
    )
    parser.add_argument("--model", required=True, help="models:/NAME@champion (or runs:/ID/model)")
    parser.add_argument("--input", required=True, help="KLUE RE .json or boostcamp .csv file")
    parser.add_argument("--out", default="predictions.csv", help="CSV: id, pred_label, probs")
    parser.add_argument(
        "--tracking-uri",
        help="MLflow URI holding the registry (default $MLFLOW_TRACKING_URI, else "
        "sqlite:///mlflow.db)",
    )
    return parser.parse_args(argv)


if __name__ == "__main__":
    sys.exit(main())

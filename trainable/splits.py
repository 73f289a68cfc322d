"""How the data is split and sliced: stratified draws, the sentence-grouped holdout, notes.

Pure functions over labels, groups and ``Record`` lists (no tokenizer, no torch), so the split
can be checked on the whole of KLUE train in a fraction of a second.
"""

from __future__ import annotations

import numpy as np

from trainable.records import DataError, Record


def stratified_take(labels: list[str], count: int, seed: int) -> np.ndarray:
    """Indices of ``count`` examples drawn per label in proportion (largest remainder), seeded.

    Unlike scikit-learn's ``train_test_split(stratify=...)`` this accepts labels with a single
    example (small slices of KLUE have some), and the total is exactly ``count``.
    """
    rng = np.random.default_rng(seed)
    groups: dict[str, list[int]] = {}
    for index, label in enumerate(labels):
        groups.setdefault(label, []).append(index)
    names = sorted(groups)
    exact = np.array([len(groups[n]) * count / len(labels) for n in names])
    quotas = np.floor(exact).astype(int)
    for position in np.argsort(-(exact - quotas), kind="stable")[: count - quotas.sum()]:
        quotas[position] += 1
    taken = [
        rng.permutation(groups[name])[:quota] for name, quota in zip(names, quotas, strict=True)
    ]
    return np.sort(np.concatenate(taken)) if taken else np.array([], dtype=int)


def stratified_group_take(
    labels: list[str], groups: list[str], count: int, seed: int
) -> np.ndarray:
    """Sorted indices of whole groups (about ``count`` examples) whose labels follow ``labels``.

    Why: KLUE train has up to three entity pairs per sentence; a holdout drawn by example puts a
    fifth of its examples next to a train example of the same sentence, so the selection score
    leaks. Grouping keeps every sentence on one side. Greedy, seeded: groups are shuffled, those
    holding rarer labels come first (their few groups must not be spent late), and a group joins
    when it fits in ``count`` and brings its labels' counts closer (squared error) to the targets
    ``count × label share``, none farther; then the groups that raise the error least fill the
    rest. The size is at most ``count``, short of it only when no remaining group fits.
    Judging the summed error instead lets a common label's large early deficit pull in groups
    that overshoot the rare labels (total variation 0.34 on KLUE train instead of 0.002).
    scikit-learn's ``StratifiedGroupKFold`` is not used: its folds are ``1/n_splits`` of the data,
    so a fraction such as 0.15 could only be approximated.
    """
    count = min(max(count, 0), len(labels))
    names, label_index = np.unique(np.asarray(labels, dtype=str), return_inverse=True)
    keys: dict[str, int] = {}
    group_index = np.array([keys.setdefault(g, len(keys)) for g in groups], dtype=int)
    matrix = np.zeros((len(keys), len(names)))  # examples per (group, label)
    np.add.at(matrix, (group_index, label_index), 1)
    totals = matrix.sum(axis=0)
    target = totals * count / max(len(labels), 1)
    order = np.random.default_rng(seed).permutation(len(keys))
    rarest = np.where(matrix > 0, totals, np.inf).min(axis=1, initial=np.inf)
    order = order[np.argsort(rarest[order], kind="stable")]
    chosen = order[_greedy_groups(matrix[order], target, count)]
    return np.flatnonzero(np.isin(group_index, chosen))


def _greedy_groups(matrix: np.ndarray, target: np.ndarray, count: int) -> list[int]:
    """Rows of ``matrix`` (label counts per group, in priority order) whose sum nears ``target``.

    First pass: take a row when it fits and lowers the squared error of some label, of none
    raising it. Then, while short of
    ``count``, take the fitting row that raises the error least (earliest on ties), much as the
    largest remainder rounds ``stratified_take``'s quotas.
    """
    current, size, chosen = np.zeros_like(target), 0, []
    sizes = matrix.sum(axis=1)
    for row, delta in enumerate(matrix):
        if size == count:
            break
        change = delta * (2 * (current - target) + delta)  # per label: squared error's change
        if size + sizes[row] <= count and change.max() <= 0 and change.sum() < 0:
            current, size = current + delta, size + sizes[row]
            chosen.append(row)
    free = np.ones(len(matrix), dtype=bool)
    free[chosen] = False
    while size < count:
        cost = (matrix * (2 * (current - target) + matrix)).sum(axis=1)
        cost[~free | (sizes > count - size)] = np.inf
        row = int(np.argmin(cost))
        if not np.isfinite(cost[row]):
            break
        current, size, free[row] = current + matrix[row], size + sizes[row], False
        chosen.append(row)
    return chosen


def shared_sentences_note(dev: list[Record], train: list[Record]) -> str:
    """KLUE dev reuses some train sentences: reported (the dev score is read with it), kept."""
    seen = {r.sentence for r in train}
    shared = {r.sentence for r in dev} & seen
    examples = sum(r.sentence in seen for r in dev)
    return (
        f"dev shares {len(shared)} sentences ({examples} examples) with train "
        "(reported, not dropped)"
    )


def selection_note(selection: list[Record], train: list[Record], mode: str) -> str:
    sentences = {r.sentence for r in selection}
    shared = len(sentences & {r.sentence for r in train})
    kind = "holdout of train grouped by sentence" if mode == "holdout" else "KLUE dev"
    return (
        f"selection: {kind}, {len(selection)} examples, {len(sentences)} sentences "
        f"({shared} also in train)"
    )


def subsample(records: list[Record], size: int, seed: int) -> list[Record]:
    if size >= len(records):
        return records
    return [records[i] for i in stratified_take([r.label for r in records], size, seed)]


def hold_out(records: list[Record], size: int, seed: int) -> tuple[list[Record], list[Record]]:
    """(train, selection): about ``size`` records, whole sentences, stratified by label."""
    labels, sentences = [r.label for r in records], [r.sentence for r in records]
    held = set(stratified_group_take(labels, sentences, size, seed).tolist())
    if not held:
        raise DataError(
            f"no holdout: every sentence of train has more than {size} examples (the holdout "
            "size); use more data or selection: dev"
        )
    train = [r for i, r in enumerate(records) if i not in held]
    return train, [r for i, r in enumerate(records) if i in held]

"""Entity markers: the text the encoder reads, and where each entity's start marker sits.

Zhou & Chen, "An Improved Baseline for Sentence-level Relation Extraction", AACL 2022,
arXiv:2102.01373: typed markers made of punctuation the tokenizer already knows.

- ``typed_punct`` (default): subject ``@ * PER * 비틀즈 @``, object ``& ^ ORG ^ 조지 해리슨 &``.
  The paper marks the object with ``#``; ``&`` is used instead because ``#`` collides with the
  ``##`` word-piece prefix of BERT-style Korean tokenizers (klue/roberta), as Korean teams do.
- ``entity_punct``: ``@ 비틀즈 @`` and ``& 조지 해리슨 &`` (no types).
- ``none``: the raw sentence; the entity_start head then reads each entity's first token.

The returned character offsets point at the opening marker (or the entity's first character for
``none``); the tokenizer's offset mapping turns them into token positions for the head.
"""

from __future__ import annotations

from dataclasses import dataclass

from trainable.records import Entity, Record

MARKERS = ("typed_punct", "entity_punct", "none")
MARKER_SYMBOLS = ("@", "*", "&", "^")


@dataclass(frozen=True)
class MarkedText:
    text: str
    subject_char: int
    object_char: int


def mark_entities(record: Record, marker: str) -> MarkedText:
    """Insert ``marker``-style markers around the subject and object of ``record``."""
    if marker not in MARKERS:
        raise ValueError(f"marker must be one of {', '.join(MARKERS)}, but got {marker!r}")
    spans = sorted(
        [("subject", record.subject), ("object", record.object)], key=lambda item: item[1].start
    )
    sentence = record.sentence
    pieces: list[str] = []
    starts: dict[str, int] = {}
    cursor = 0
    for role, entity in spans:
        pieces.append(sentence[cursor : entity.start])
        opening, closing = _wrap(role, entity, marker)
        starts[role] = sum(map(len, pieces))
        pieces.extend([opening, entity.word, closing])
        cursor = entity.end + 1
    pieces.append(sentence[cursor:])
    return MarkedText("".join(pieces), starts["subject"], starts["object"])


def _wrap(role: str, entity: Entity, marker: str) -> tuple[str, str]:
    if marker == "none":
        return "", ""
    outer, inner = ("@", "*") if role == "subject" else ("&", "^")
    if marker == "entity_punct":
        return f"{outer} ", f" {outer}"
    return f"{outer} {inner} {entity.type} {inner} ", f" {outer}"

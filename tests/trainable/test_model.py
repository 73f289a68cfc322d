"""The production model route: an encoder and tokenizer saved locally with save_pretrained."""

import contextlib
import json
import subprocess
import sys

import pytest
import torch
from transformers import AutoModel, AutoTokenizer, BertConfig, BertModel, BertTokenizer

from trainable.common.settings import ModelSettings
from trainable.markers import mark_entities
from trainable.model import ModelLoadError, build_model, build_tokenizer

SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


@pytest.fixture
def saved_model(tmp_path, train_records):
    """A tiny BERT + character WordPiece vocabulary, saved as a hub checkpoint would be.

    The vocabulary lacks '&' and '^' on purpose: the object markers must be added."""
    characters = sorted({c for r in train_records[:300] for c in r.sentence if not c.isspace()})
    vocab = SPECIAL + [c for c in characters if c not in "&^"] + ["@", "*", "PER", "ORG"]
    vocab = list(dict.fromkeys(vocab))
    tokenizer = BertTokenizer(
        vocab={token: i for i, token in enumerate(vocab)}, do_lower_case=False
    )
    config = BertConfig(
        vocab_size=len(vocab), hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
        intermediate_size=64,
    )  # fmt: skip
    folder = tmp_path / "saved"
    BertModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder, len(vocab)


@pytest.mark.parametrize("head", ["entity_start", "cls"])
def test_local_pretrained_checkpoint_loads_and_classifies(saved_model, train_records, head):
    folder, vocab_size = saved_model
    settings = ModelSettings(name_or_path=str(folder), head=head)
    tokenizer = build_tokenizer(settings, [], max_length=128)
    assert len(tokenizer) == vocab_size + 2  # '&' and '^' were added
    assert tokenizer.tokenize("& ^") == ["&", "^"]
    model = build_model(settings, tokenizer, num_labels=30)
    assert model.encoder.get_input_embeddings().num_embeddings == len(tokenizer)

    record = train_records[0]
    marked = mark_entities(record, "typed_punct")
    encoded = tokenizer(marked.text, return_tensors="pt")
    subject = torch.tensor([encoded.char_to_token(0, marked.subject_char)])
    obj = torch.tensor([encoded.char_to_token(0, marked.object_char)])
    assert tokenizer.convert_ids_to_tokens(int(encoded["input_ids"][0, obj])) == "&"
    logits = model(**encoded, subject_pos=subject, object_pos=obj).logits
    assert logits.shape == (1, 30) and torch.isfinite(logits).all()


def test_unloadable_model_is_a_clear_error(tmp_path):
    settings = ModelSettings(name_or_path=str(tmp_path / "no-such-model"))
    with pytest.raises(ModelLoadError, match=r"model.name_or_path=.*no-such-model.*cannot load"):
        build_tokenizer(settings, [], max_length=64)


SCRATCH_TOKENIZER_FINGERPRINT = """
import hashlib, json, sys
from trainable.model import build_tokenizer
from trainable.common.settings import ModelSettings
texts = json.load(sys.stdin)
settings = ModelSettings(name_or_path="scratch", scratch={"vocab_size": 3000})
tokenizer = build_tokenizer(settings, texts, max_length=128)
ids = [tokenizer(text)["input_ids"] for text in texts[:300]]
print(hashlib.sha256(json.dumps([sorted(tokenizer.get_vocab().items()), ids]).encode()).hexdigest())
"""


@pytest.mark.slow
def test_the_scratch_tokenizer_is_the_same_in_every_process(raw_train):
    """A sweep is reproducible only if a rebuilt data cache gives the same vocabulary: train the
    scratch tokenizer in fresh processes (fresh hash seeds) and compare vocabularies and ids."""
    texts = json.dumps([record["sentence"] for record in raw_train[:6000]], ensure_ascii=False)
    fingerprints = {
        subprocess.run(
            [sys.executable, "-c", SCRATCH_TOKENIZER_FINGERPRINT],
            input=texts, capture_output=True, text=True, check=True, timeout=300,
        ).stdout.strip()
        for _ in range(3)
    }  # fmt: skip
    assert len(fingerprints) == 1


def test_a_checkpoint_that_asks_to_run_its_own_code_never_does(saved_model, monkeypatch):
    """A planted checkpoint whose config maps the classes to its own module (which would write
    a file when imported): every load says ``trust_remote_code=False``, and the code never runs."""
    folder, _ = saved_model
    ran = folder / "remote_code_ran"
    (folder / "planted.py").write_text(
        f"open({str(ran)!r}, 'w').close()\nfrom transformers import BertModel as Planted\n"
    )
    config = json.loads((folder / "config.json").read_text())
    config["auto_map"] = {
        "AutoModel": "planted.Planted",
        "AutoTokenizer": [None, "planted.Planted"],
    }
    (folder / "config.json").write_text(json.dumps(config))
    asked = []
    for auto_class in (AutoModel, AutoTokenizer):
        original = auto_class.from_pretrained.__func__

        def spy(cls, *args, _original=original, **kwargs):
            asked.append(kwargs.get("trust_remote_code"))
            return _original(cls, *args, **kwargs)

        monkeypatch.setattr(auto_class, "from_pretrained", classmethod(spy))
    settings = ModelSettings(name_or_path=str(folder))
    with contextlib.suppress(ModelLoadError):  # refusing the planted module is right too
        build_model(settings, build_tokenizer(settings, [], 64), num_labels=3)
    assert asked and asked == [False] * len(asked)
    assert not ran.exists()

"""klue/roberta-large's exact shape with random weights, and the trainable's entity_start head.

Only torch and transformers: bench/throughput.py builds this on bare GPU machines, with nothing
downloaded (throughput depends on the shape, not on the weights).
"""

from __future__ import annotations

import torch
from torch import nn
from transformers import RobertaConfig, RobertaModel

NUM_LABELS = 30  # KLUE RE's relation_list.json
# klue/roberta-large's config.json on the Hugging Face hub (RobertaForMaskedLM; written out from
# it, not downloaded here): hidden 1024, 24 layers, 16 heads, FFN 4096, vocab 32000, 514
# positions, one token type, pad id 1, LayerNorm eps 1e-5. Verify against the hub file where it
# is reachable. (Marker tokens the trainable might add would grow the vocabulary by at most 4.)
ROBERTA_LARGE = {
    "hidden_size": 1024, "num_hidden_layers": 24, "num_attention_heads": 16,
    "intermediate_size": 4096, "vocab_size": 32000, "max_position_embeddings": 514,
    "type_vocab_size": 1, "pad_token_id": 1, "layer_norm_eps": 1e-5,
}  # fmt: skip


class EntityStartClassifier(nn.Module):
    """trainable.model.RelationClassifier's entity_start head, restated here because that module
    needs pydantic (a test checks both have the same parameters): the encoder states at the two
    start markers, concatenated, then a two-layer MLP."""

    def __init__(self, encoder: nn.Module, num_labels: int, dropout: float = 0.1) -> None:
        super().__init__()
        self.encoder = encoder
        hidden = encoder.config.hidden_size
        self.head = nn.Sequential(
            nn.Dropout(dropout), nn.Linear(2 * hidden, hidden), nn.GELU(),
            nn.Dropout(dropout), nn.Linear(hidden, num_labels),
        )  # fmt: skip

    def forward(self, input_ids, attention_mask, subject_pos, object_pos) -> torch.Tensor:
        states = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        rows = torch.arange(states.shape[0], device=states.device)
        return self.head(torch.cat([states[rows, subject_pos], states[rows, object_pos]], dim=-1))


def roberta_large_model(device: str) -> EntityStartClassifier:
    config = RobertaConfig(**ROBERTA_LARGE, attn_implementation="sdpa")
    torch.manual_seed(0)
    return EntityStartClassifier(RobertaModel(config, add_pooling_layer=False), NUM_LABELS).to(
        device
    )

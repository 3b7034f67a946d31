"""A pre-norm transformer block whose queries can also attend to a fixed memory of context tokens.

With ``memory=None`` it is an ordinary self-attention block (the shared context transformer). With a memory, the
query tokens attend over ``[queries, memory]`` and only the queries are updated: this is the coupling network F
"over [h1 token, context tokens]" at the cost of one query per layer, since the context tokens are computed once
per frame and reused by all K flow steps.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class TransformerBlock(nn.Module):
    def __init__(self, hidden: int, heads: int, mlp_ratio: int = 2, with_memory: bool = False):
        super().__init__()
        if hidden % heads:
            raise ValueError(f"hidden size {hidden} must be divisible by the number of heads {heads}")
        self.heads = heads
        self.norm_query = nn.LayerNorm(hidden)
        self.norm_memory = nn.LayerNorm(hidden) if with_memory else None
        self.query = nn.Linear(hidden, hidden)
        self.key_value = nn.Linear(hidden, 2 * hidden)
        self.out = nn.Linear(hidden, hidden)
        self.norm_mlp = nn.LayerNorm(hidden)
        self.mlp = nn.Sequential(
            nn.Linear(hidden, mlp_ratio * hidden), nn.GELU(), nn.Linear(mlp_ratio * hidden, hidden)
        )

    def _split_heads(self, tokens: Tensor) -> Tensor:
        batch, length, width = tokens.shape
        return tokens.view(batch, length, self.heads, width // self.heads).transpose(1, 2)

    def forward(self, tokens: Tensor, memory: Tensor | None = None) -> Tensor:
        normed = self.norm_query(tokens)
        if (memory is None) != (self.norm_memory is None):
            raise ValueError("pass memory exactly when the block was built with_memory")
        attended = normed if memory is None else torch.cat([normed, self.norm_memory(memory)], dim=1)
        keys, values = self.key_value(attended).chunk(2, dim=-1)
        mixed = F.scaled_dot_product_attention(
            self._split_heads(self.query(normed)), self._split_heads(keys), self._split_heads(values)
        )
        tokens = tokens + self.out(mixed.transpose(1, 2).flatten(2))
        return tokens + self.mlp(self.norm_mlp(tokens))

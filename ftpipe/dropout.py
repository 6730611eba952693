"""Dropout that costs less on a CPU (``train.fast_dropout``).

What the profiler showed (BF16 box, 1 core, bf16, MiniLM, a QA step of 8 x 200 tokens):
torch's CPU dropout draws one random number per element (``aten::bernoulli_``: 19 % of
the step, most of it on the 12 x 200 x 200 attention probabilities of each layer), and
dropout on the attention probabilities also pushes SDPA off its fused kernel. Two changes,
same recipe (every dropout keeps its probability ``p``):

* a mask costs one 64-bit random draw per four elements: each 16-bit lane of the draw
  decides one element, dropped with probability ``round(p * 65536) / 65536`` (0.100006
  for 0.1); survivors are scaled by the inverse of the exact keep probability, so the
  expectation is unchanged. The mask is uint8: applying it is a multiply.
* attention in training runs the eager math (``QK^T``, mask, softmax) with that mask on
  the probabilities and the ``1 / keep`` scale applied to the (seq x head dim) output
  instead of the (seq x seq) probabilities.

Only where it pays: on a CPU in training. Evaluation and GPUs use transformers' SDPA and
torch's dropout (fused on a GPU). The swap lasts for one :func:`fast_dropout` block and
is undone after it, so a saved model carries nothing of it.
"""

from __future__ import annotations

import contextlib
from typing import Iterator

import torch
from torch import nn

NAME = "ftpipe_cpu_dropout"  # the attention implementation's registered name
LANES = 65536  # one 16-bit lane decides one element


def keep_mask(shape: tuple[int, ...], p: float, device: torch.device | None = None) -> tuple[torch.Tensor, float]:
    """A uint8 mask (1 = keep) drawing four elements per 64-bit random number, and the
    scale for the survivors (1 / the exact keep probability)."""
    n = 1
    for s in shape:
        n *= s
    words = torch.empty((n + 3) // 4, dtype=torch.int64, device=device).random_(-2 ** 63, None)
    dropped = round(p * LANES)
    keep = words.view(torch.int16)[:n].view(shape) >= dropped - LANES // 2
    return keep.view(torch.uint8), LANES / (LANES - dropped)


def dropout(x: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    if not training or p == 0 or x.device.type != "cpu":
        return nn.functional.dropout(x, p, training)
    keep, scale = keep_mask(x.shape, p, x.device)
    return x * keep * scale


class FastDropout(nn.Dropout):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return dropout(x, self.p, self.training)


def attention(module: nn.Module, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
              attention_mask: torch.Tensor | None, scaling: float | None = None, dropout: float = 0.0,
              **kwargs):
    """transformers' attention interface: the CPU training path here, SDPA otherwise. The
    mask is SDPA's (boolean, True = attend, or None without padding)."""
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    if not module.training or query.device.type != "cpu":
        return sdpa_attention_forward(module, query, key, value, attention_mask, dropout=dropout,
                                      scaling=scaling, **kwargs)
    scaling = query.size(-1) ** -0.5 if scaling is None else scaling
    scores = torch.matmul(query * scaling, key.transpose(2, 3))
    if attention_mask is not None:  # added, not masked_fill: an addition's backward is free
        bias = torch.zeros(attention_mask.shape, dtype=scores.dtype, device=scores.device)
        scores = scores + bias.masked_fill_(~attention_mask, torch.finfo(scores.dtype).min)
    probs = nn.functional.softmax(scores, dim=-1)
    if dropout > 0:
        keep, scale = keep_mask(probs.shape, dropout, probs.device)
        out = torch.matmul(probs * keep, value) * scale
    else:
        out = torch.matmul(probs, value)
    return out.transpose(1, 2).contiguous(), probs


def _register() -> None:
    from transformers import AttentionInterface
    from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS, sdpa_mask

    AttentionInterface.register(NAME, attention)
    ALL_MASK_ATTENTION_FUNCTIONS.register(NAME, sdpa_mask)  # without it padding goes unmasked


@contextlib.contextmanager
def fast_dropout(model: nn.Module, enabled: bool = True) -> Iterator[nn.Module]:
    """Within the block, ``model``'s dropout layers and attention take the paths above
    (encoders on transformers' attention interface that run SDPA: BERT, ELECTRA, RoBERTa);
    restored after it."""
    from transformers import PreTrainedModel

    if not enabled:
        yield model
        return
    _register()
    swapped, switched = [], []
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if type(child) is nn.Dropout:
                setattr(parent, name, FastDropout(child.p, child.inplace))
                swapped.append((parent, name, child))
        if isinstance(parent, PreTrainedModel) and getattr(type(parent), "_supports_attention_backend", False) \
                and parent.config._attn_implementation == "sdpa":
            parent.set_attn_implementation(NAME)
            switched.append(parent)
    try:
        yield model
    finally:
        for parent, name, child in swapped:
            setattr(parent, name, child)
        for parent in switched:
            parent.set_attn_implementation("sdpa")

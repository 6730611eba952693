"""Replaced-token detection (ELECTRA, Clark et al. 2020), and masked LM beside it.

The details electra_pytorch found indispensable for replicating the paper, each held by a
test: the generator and the discriminator share the word, position and token-type
embeddings and the embedding LayerNorm (one module); the generator's output embeddings are
tied to its input embeddings; 15 % of the real tokens are selected, 85 % of those become
``[MASK]`` and 15 % stay as they are (no random tokens); replacements are *sampled* from
the generator (Gumbel-max, not argmax); a sampled token equal to the original counts as
original for the discriminator; loss = generator MLM loss + 50 x discriminator loss.

``objective: mlm`` trains the discriminator-sized model as a masked LM (BERT: 80 % [MASK],
10 % random, 10 % unchanged) through the same code path, for the paper's comparison.

In eval mode the masking and the sampling of a row are seeded by the row's own tokens, so
an evaluation scores the same replacements whatever the batch and the epoch.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F
from transformers.utils import ModelOutput

from ...io import write_text
from ...models import POOLING_CONFIG, set_dropout

# ELECTRA-Small (the paper's Table 6) and a size for CPU runs; the generator is
# ``generator_size`` of the discriminator in hidden size, heads and intermediate size.
SIZES = {
    "small": {"embedding_size": 128, "hidden_size": 256, "num_hidden_layers": 12, "num_attention_heads": 4,
              "intermediate_size": 1024},
    "tiny": {"embedding_size": 64, "hidden_size": 128, "num_hidden_layers": 4, "num_attention_heads": 2,
             "intermediate_size": 512},
}


@dataclass
class PretrainOutput(ModelOutput):
    loss: torch.Tensor | None = None
    parts: dict | None = None  # scalar losses the training loop logs beside loss
    rows: dict | None = None  # per-token tensors for the evaluation


def embeddings_of(model: nn.Module) -> nn.Module:
    base = getattr(model, model.base_model_prefix, model) if hasattr(model, "base_model_prefix") else model
    return base.embeddings


def generator_config(disc_config: Any, fraction: float) -> Any:
    """An ELECTRA generator beside any encoder: ``fraction`` of its hidden size, heads and
    intermediate size, the same layers, and embeddings of the discriminator's width."""
    from transformers import ElectraConfig

    heads = max(1, round(disc_config.num_attention_heads * fraction))
    hidden = max(heads, round(disc_config.hidden_size * fraction) // heads * heads)
    emb = getattr(disc_config, "embedding_size", None) or disc_config.hidden_size
    return ElectraConfig(vocab_size=disc_config.vocab_size, embedding_size=emb, hidden_size=hidden,
                         num_hidden_layers=disc_config.num_hidden_layers, num_attention_heads=heads,
                         intermediate_size=max(1, round(disc_config.intermediate_size * fraction)),
                         max_position_embeddings=disc_config.max_position_embeddings,
                         type_vocab_size=disc_config.type_vocab_size, pad_token_id=disc_config.pad_token_id,
                         hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1)


class RTDHead(nn.Module):
    """ELECTRA's discriminator head, for an encoder that has none (e.g. BERT / MiniLM)."""

    def __init__(self, hidden: int):
        super().__init__()
        self.dense = nn.Linear(hidden, hidden)
        self.out = nn.Linear(hidden, 1)

    def forward(self, states: torch.Tensor) -> torch.Tensor:
        return self.out(F.gelu(self.dense(states))).squeeze(-1)


class ReplacedTokenDetection(nn.Module):
    def __init__(self, discriminator: nn.Module, generator: nn.Module | None, special_ids: list[int], mask_id: int,
                 cfg: Any, head: nn.Module | None = None):
        super().__init__()
        self.discriminator, self.generator, self.head = discriminator, generator, head
        self.config = discriminator.config  # layer-wise lr decay and LoRA look here
        self.objective, self.cfg, self.mask_id = cfg.objective, cfg, mask_id
        self.pooling_config: str | None = None  # the starting encoder's sentence pooling, kept on saving
        self.register_buffer("special_ids", torch.tensor(sorted(set(special_ids))), persistent=False)
        if generator is not None:  # one embedding module; generator output tied to its input
            generator.electra.embeddings = embeddings_of(discriminator)
            generator.generator_lm_head.weight = generator.electra.embeddings.word_embeddings.weight

    # ------------------------------------------------------------ randomness
    def _rng(self, input_ids: torch.Tensor, i: int, salt: int) -> torch.Generator:
        g = torch.Generator(device=input_ids.device)
        weights = torch.arange(1, input_ids.shape[1] + 1, device=input_ids.device)
        g.manual_seed((int((input_ids[i].long() * weights).sum()) * 31 + salt) % (2 ** 31))
        return g

    def _uniform(self, input_ids: torch.Tensor, shape: tuple, salt: int) -> torch.Tensor:
        """Uniform noise of ``shape`` (batch first): the torch RNG when training (seeded and
        restored on resume), seeded by each row's tokens when evaluating."""
        if self.training:
            return torch.rand(shape, device=input_ids.device)
        return torch.stack([torch.rand(shape[1:], generator=self._rng(input_ids, i, salt), device=input_ids.device)
                            for i in range(shape[0])])

    def mask(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(masked input, selected positions): ``mask_prob`` of the real tokens selected;
        of those ``mask_token_prob`` -> [MASK], ``random_token_prob`` -> a random token,
        the rest unchanged."""
        cfg = self.cfg
        maskable = attention_mask.bool() & ~torch.isin(input_ids, self.special_ids)
        selected = (self._uniform(input_ids, input_ids.shape, 1) < cfg.mask_prob) & maskable
        how = self._uniform(input_ids, input_ids.shape, 2)
        masked = input_ids.clone()
        masked[selected & (how < cfg.mask_token_prob)] = self.mask_id
        rand = selected & (how >= cfg.mask_token_prob) & (how < cfg.mask_token_prob + cfg.random_token_prob)
        masked[rand] = (self._uniform(input_ids, input_ids.shape, 3)[rand] * self.config.vocab_size).long()
        return masked, selected

    def sample(self, logits: torch.Tensor, rows: torch.Tensor, input_ids: torch.Tensor) -> torch.Tensor:
        """Gumbel-max sampling from the generator's distribution (``temperature``), not argmax;
        ``logits`` [selected, vocab], ``rows`` the batch row of each."""
        if self.training:
            noise = torch.rand(logits.shape, device=logits.device)
        else:
            noise = torch.empty(logits.shape, device=logits.device)
            for i in rows.unique().tolist():
                at = rows == i
                noise[at] = torch.rand((int(at.sum()), logits.shape[1]), generator=self._rng(input_ids, i, 4),
                                       device=logits.device)
        noise = noise.clamp(1e-9, 1 - 1e-9)
        return (logits.float() / self.cfg.temperature - torch.log(-torch.log(noise))).argmax(-1)

    # ------------------------------------------------------------ forward
    @staticmethod
    def selected_logits(mlm: nn.Module, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                        token_type_ids: torch.Tensor | None, selected: torch.Tensor) -> torch.Tensor:
        """Vocabulary logits at the selected positions only, as ELECTRA computes them: the
        projection onto 30k words at every position was 90 % of a tiny model's step."""
        base = getattr(mlm, mlm.base_model_prefix)
        hidden = base(input_ids=input_ids, attention_mask=attention_mask,
                      token_type_ids=token_type_ids).last_hidden_state[selected]
        if hasattr(mlm, "generator_predictions"):  # ELECTRA
            return mlm.generator_lm_head(mlm.generator_predictions(hidden))
        return mlm.get_output_embeddings()(mlm.cls.predictions.transform(hidden)) if hasattr(mlm, "cls") \
            else mlm.lm_head(hidden)

    def discriminate(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                     token_type_ids: torch.Tensor | None) -> torch.Tensor:
        if self.head is None:  # ElectraForPreTraining: its own head
            return self.discriminator(input_ids=input_ids, attention_mask=attention_mask,
                                      token_type_ids=token_type_ids).logits
        states = self.discriminator(input_ids=input_ids, attention_mask=attention_mask,
                                    token_type_ids=token_type_ids).last_hidden_state
        return self.head(states)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                token_type_ids: torch.Tensor | None = None) -> PretrainOutput:
        masked, selected = self.mask(input_ids, attention_mask)
        mlm = self.discriminator if self.objective == "mlm" else self.generator
        logits = self.selected_logits(mlm, masked, attention_mask, token_type_ids, selected)
        originals = input_ids[selected]
        gen_loss = F.cross_entropy(logits.float(), originals) if len(originals) else logits.sum() * 0.0
        gen_correct = torch.zeros_like(selected)
        gen_correct[selected] = logits.argmax(-1) == originals
        if self.objective == "mlm":
            return PretrainOutput(gen_loss, {"mlm_loss": gen_loss.detach()},
                                  {"selected": selected, "gen_correct": gen_correct})
        with torch.no_grad():
            corrupted = input_ids.clone()
            corrupted[selected] = self.sample(logits.detach(), selected.nonzero()[:, 0], input_ids)
        replaced = corrupted != input_ids  # a sampled original token counts as original
        disc_logits = self.discriminate(corrupted, attention_mask, token_type_ids)
        active = attention_mask.bool()
        disc_loss = F.binary_cross_entropy_with_logits(disc_logits[active].float(), replaced[active].float())
        loss = gen_loss + self.cfg.disc_weight * disc_loss
        return PretrainOutput(loss, {"gen_loss": gen_loss.detach(), "disc_loss": disc_loss.detach()},
                              {"selected": selected, "gen_correct": gen_correct, "replaced": replaced,
                               "disc_logits": disc_logits, "active": active})


# ---------------------------------------------------------------- building and saving


def _encoder(path: Path, objective: str, trust: bool) -> tuple[nn.Module, nn.Module | None]:
    """An existing discriminator (ELECTRA) or encoder (any other: an RTD head beside it)."""
    from safetensors.torch import load_file
    from transformers import AutoConfig, AutoModel, AutoModelForMaskedLM, ElectraForPreTraining

    config = AutoConfig.from_pretrained(path, trust_remote_code=trust)
    if objective == "mlm":
        return AutoModelForMaskedLM.from_pretrained(path, trust_remote_code=trust), None
    if config.model_type == "electra":
        return ElectraForPreTraining.from_pretrained(path), None
    encoder = AutoModel.from_pretrained(path, trust_remote_code=trust, add_pooling_layer=False) \
        if config.model_type == "bert" else AutoModel.from_pretrained(path, trust_remote_code=trust)
    head = RTDHead(config.hidden_size)
    if (path / "rtd_head.safetensors").is_file():
        head.load_state_dict(load_file(str(path / "rtd_head.safetensors")))
    return encoder, head


def _from_scratch(cfg: Any, vocab_size: int, pad_id: int) -> nn.Module:
    from transformers import ElectraConfig, ElectraForMaskedLM, ElectraForPreTraining

    sizes = SIZES[cfg.size] if cfg.size != "custom" else dict(cfg.custom or {})
    config = ElectraConfig(vocab_size=vocab_size, max_position_embeddings=512, type_vocab_size=2,
                           pad_token_id=pad_id, **sizes)
    return (ElectraForMaskedLM if cfg.objective == "mlm" else ElectraForPreTraining)(config)


def build(cfg: Any, path: str | None, tokenizer: Any, seed: int, trust: bool) -> ReplacedTokenDetection:
    """From scratch (``pretrained: false``: ``size``), or continued from ``path``: a pair
    saved by this stage (``discriminator/`` + ``generator/``), an ELECTRA discriminator, or
    any encoder (the bundled MiniLM) with a generator built beside it."""
    from transformers import ElectraForMaskedLM

    torch.manual_seed(seed)
    head, gen_dir = None, None
    if cfg.pretrained:
        root = Path(path)
        disc_dir = root / "discriminator" if (root / "discriminator").is_dir() else root
        gen_dir = root / "generator" if (root / "generator").is_dir() else None
        disc, head = _encoder(disc_dir, cfg.objective, trust)
    else:
        disc = _from_scratch(cfg, len(tokenizer), tokenizer.pad_token_id)
    gen = None
    if cfg.objective == "rtd":
        gen = (ElectraForMaskedLM.from_pretrained(gen_dir) if gen_dir is not None
               else ElectraForMaskedLM(generator_config(disc.config, cfg.generator_size)))
    model = set_dropout(ReplacedTokenDetection(disc, gen, tokenizer.all_special_ids, tokenizer.mask_token_id,
                                               cfg, head), cfg.dropout)
    if cfg.pretrained and (disc_dir / POOLING_CONFIG).is_file():
        # a sentence-transformers encoder (the bundled MiniLM) pools sentences by the mean;
        # its continued discriminator keeps saying so, or a task's `pooling: auto` would
        # switch to [CLS] on the hand-off (CoLA with mean pooling: README, "Pretraining")
        model.pooling_config = (disc_dir / POOLING_CONFIG).read_text(encoding="utf-8")
    return model


def save(model: nn.Module, tokenizer: Any, out_dir: str | Path) -> None:
    """``discriminator/`` (what fine-tuning takes as its model) and ``generator/``, each
    with the tokenizer; an encoder's RTD head beside it (to continue pretraining)."""
    from safetensors.torch import save_file

    model = getattr(model, "module", model)
    out = Path(out_dir)
    model.discriminator.save_pretrained(out / "discriminator", safe_serialization=True)
    tokenizer.save_pretrained(out / "discriminator")
    if model.pooling_config is not None:
        (out / "discriminator" / POOLING_CONFIG).parent.mkdir(exist_ok=True)
        write_text(out / "discriminator" / POOLING_CONFIG, model.pooling_config)
    if model.head is not None:
        save_file({k: v.contiguous() for k, v in model.head.state_dict().items()},
                  str(out / "discriminator" / "rtd_head.safetensors"))
    if model.generator is not None:
        model.generator.save_pretrained(out / "generator", safe_serialization=True)
        tokenizer.save_pretrained(out / "generator")

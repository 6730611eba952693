"""full / BitFit / LoRA on a tiny BERT: what trains, exact counts, head saved, round trip."""

import numpy as np
import pytest
import torch
from transformers import AutoModelForQuestionAnswering

from conftest import model_config, train_config
from ftpipe.errors import ModelError
from ftpipe.inference import forward_rows
from ftpipe.models import apply_method, count_parameters, load_model, load_trained, resolve_model_path, save_model
from ftpipe.tasks.qa import TASK as QA

H, L, I = 32, 2, 64  # tiny config in conftest


def tiny(tiny_model_dir, pretrained=True, seed=123):
    return load_model(model_config(tiny_model_dir, pretrained), AutoModelForQuestionAnswering, seed)


def test_full_trains_everything(tiny_model_dir):
    m = apply_method(tiny(tiny_model_dir), train_config(method="full"))
    c = count_parameters(m)
    assert c["trainable_params"] == c["total_params"] == sum(p.numel() for p in m.parameters())


def test_bitfit_trains_biases_and_head_only(tiny_model_dir):
    m = apply_method(tiny(tiny_model_dir), train_config(method="bitfit"))
    trainable = {n for n, p in m.named_parameters() if p.requires_grad}
    assert "qa_outputs.weight" in trainable and "qa_outputs.bias" in trainable
    assert all(n.endswith(".bias") or n.startswith("qa_outputs.") for n in trainable)
    # biases per layer: query, key, value, attention output, its LayerNorm (5H), intermediate (I),
    # output dense and its LayerNorm (2H) -> 7H + I; plus the embedding LayerNorm bias (H) and
    # the head (2H weights + 2 biases). BertForQuestionAnswering has no pooler.
    expected = L * (7 * H + I) + H + (2 * H + 2)
    assert count_parameters(m)["trainable_params"] == expected


@pytest.mark.parametrize("r", [2, 8])
def test_lora_counts_match_the_formula(tiny_model_dir, r):
    base_total = sum(p.numel() for p in tiny(tiny_model_dir).parameters())
    m = apply_method(tiny(tiny_model_dir), train_config(method="lora", lora={"r": r}))
    head = 2 * H + 2
    adapters = L * 2 * r * (H + H)  # query and value, H -> H each: r * (d_in + d_out)
    c = count_parameters(m)
    assert c["trainable_params"] == adapters + head
    # total: base + adapters + peft's trainable copy of the head
    assert c["total_params"] == base_total + adapters + head
    trainable = [n for n, p in m.named_parameters() if p.requires_grad]
    assert any("qa_outputs" in n for n in trainable)
    assert all("lora_" in n or "qa_outputs" in n for n in trainable)


@pytest.mark.parametrize("r", [2, 8])
def test_lora_all_linear_wraps_every_encoder_linear(tiny_model_dir, r):
    m = apply_method(tiny(tiny_model_dir), train_config(method="lora", lora={"r": r, "target_modules": "all-linear"}))
    # per layer: query, key, value, attention output (H -> H), intermediate (H -> I), output (I -> H)
    adapters = L * r * (4 * 2 * H + 2 * (H + I))
    assert count_parameters(m)["trainable_params"] == adapters + 2 * H + 2
    wrapped = {n.rsplit(".lora_A", 1)[0] for n, _ in m.named_parameters() if ".lora_A." in n}
    assert len(wrapped) == 6 * L and not any("qa_outputs" in n for n in wrapped)


def test_lora_all_linear_keeps_the_classifier_whole(tiny_model_dir):
    """A [CLS] classifier's pooler is adapted like the encoder; the head is trained whole,
    never wrapped (ELECTRA's head has a ``dense`` of its own: names are full, not suffixes)."""
    from transformers import AutoModelForSequenceClassification

    m = load_model(model_config(tiny_model_dir), AutoModelForSequenceClassification, 1, num_labels=3)
    m = apply_method(m, train_config(method="lora", lora={"r": 2, "target_modules": "all-linear"}))
    names = [n for n, p in m.named_parameters() if p.requires_grad]
    assert any("pooler.dense.lora_A" in n for n in names)
    assert not any("classifier" in n and "lora_" in n for n in names)
    assert any("classifier" in n and "modules_to_save" in n for n in names)


def test_unknown_architecture_needs_explicit_lora_targets(tiny_model_dir):
    m = tiny(tiny_model_dir)
    m.config.model_type = "mystery"
    with pytest.raises(ModelError, match="target_modules"):
        apply_method(m, train_config(method="lora"))


def _features(tokenizer, copies: int = 1):
    import datasets

    from ftpipe.tasks.qa.windows import tokenize_eval

    ctx = "Ada Lovelace wrote the first published algorithm for Babbage's Analytical Engine in 1843."
    ctxs = [ctx + " She was born in London." * i for i in range(copies)]  # rows of different lengths
    cols = {"id": [f"a{i}" for i in range(copies)], "question": ["When did she write it?"] * copies,
            "context": ctxs, "answers": [{"text": ["1843"], "answer_start": [ctx.index("1843")]}] * copies}
    return datasets.Dataset.from_dict(tokenize_eval(cols, tokenizer, 64, 16))


def window_logits(model, feats, pad_token_id, precision="fp32"):
    rows = forward_rows(model, feats, pad_token_id, 8, precision, QA.outputs, QA.token_outputs)
    return [r["start_logits"] for r in rows], [r["end_logits"] for r in rows]


@pytest.mark.parametrize("method", ["full", "bitfit", "lora"])
def test_save_load_round_trip_keeps_predictions(tiny_model_dir, tokenizer, tmp_path, method):
    torch.manual_seed(0)
    m = apply_method(tiny(tiny_model_dir), train_config(method=method))
    with torch.no_grad():  # stand-in for training: move every trainable tensor, head included
        for p in m.parameters():
            if p.requires_grad:
                p.add_(torch.randn_like(p) * 0.5)
    feats = _features(tokenizer)
    before = window_logits(m, feats, tokenizer.pad_token_id)
    save_model(m, tokenizer, tmp_path / "model")
    if method == "lora":
        assert (tmp_path / "model" / "adapter" / "adapter_config.json").is_file()
    loaded, _ = load_trained(tmp_path / "model", QA.auto_model)
    after = window_logits(loaded, feats, tokenizer.pad_token_id)
    np.testing.assert_allclose(before[0][0], after[0][0], atol=1e-4)
    np.testing.assert_allclose(before[1][0], after[1][0], atol=1e-4)


@pytest.mark.parametrize("method", ["full", "lora"])
def test_dropout_param_sets_every_dropout_but_loras(tiny_model_dir, method):
    """model.dropout: every Dropout module of encoder and head (attention's too), in the fast
    CPU path as well; LoRA's adapters keep train.lora.dropout; null leaves the config's."""
    from transformers import AutoModelForSequenceClassification

    from ftpipe.dropout import fast_dropout

    def build(p):
        cfg = model_config(tiny_model_dir, dropout=p)
        return apply_method(load_model(cfg, AutoModelForSequenceClassification, 0, num_labels=2),
                            train_config(method=method, lora={"r": 2, "alpha": 2, "dropout": 0.3,
                                                              "target_modules": None, "use_rslora": False}))

    def dropouts(m):
        return {n: mod.p for n, mod in m.named_modules() if isinstance(mod, torch.nn.Dropout)}

    as_built, zero = dropouts(build(None)), dropouts(build(0.0))
    lora = {n for n in zero if "lora_dropout" in n}
    assert (len(lora) == 2 * L) == (method == "lora")  # query and value of each layer
    assert {p for n, p in as_built.items() if n not in lora} == {0.1}  # BertConfig's default
    assert all(zero[n] == (0.3 if n in lora else 0.0) for n in zero) and len(zero) > 2 * L
    ids = torch.tensor([[101, 2054, 2003, 102, 0], [101, 2023, 102, 0, 0]])
    mask = (ids != 0).long()
    for p, same in ((0.0, True), (0.5, False)):
        m = build(p).train()
        if method == "lora":  # LoRA's own dropout would make two passes differ
            for n, mod in m.named_modules():
                if "lora_dropout" in n and isinstance(mod, torch.nn.Dropout):
                    mod.p = 0.0
        with fast_dropout(m):
            a, b = (m(input_ids=ids, attention_mask=mask).logits for _ in range(2))
        assert torch.equal(a, b) == same, p


def test_random_init_differs_from_pretrained(tiny_model_dir):
    a = tiny(tiny_model_dir, pretrained=True).state_dict()["bert.encoder.layer.0.attention.self.query.weight"]
    b = tiny(tiny_model_dir, pretrained=False).state_dict()["bert.encoder.layer.0.attention.self.query.weight"]
    assert not torch.equal(a, b)


def test_new_head_is_seeded(tiny_model_dir, tmp_path):
    """A head missing from the checkpoint starts the same in every process: the torch RNG
    is seeded before loading (its initial state differs per process)."""
    from transformers import AutoModel

    AutoModel.from_pretrained(str(tiny_model_dir)).save_pretrained(tmp_path / "encoder")  # no qa_outputs
    heads = []
    for noise in (1, 2):
        torch.manual_seed(noise)  # stands in for a fresh process's RNG state
        m = load_model(model_config(tmp_path / "encoder"), AutoModelForQuestionAnswering, 7)
        heads.append(m.qa_outputs.weight.detach().clone())
    assert torch.equal(heads[0], heads[1])


def test_model_resolution(tmp_path):
    assert resolve_model_path("bundled").endswith("model")
    assert resolve_model_path("google/electra-small-discriminator") == "google/electra-small-discriminator"
    with pytest.raises(ModelError, match="no config.json"):
        resolve_model_path(str(tmp_path))
    with pytest.raises(ModelError, match="not a model directory"):
        resolve_model_path(str(tmp_path / "missing"))


def test_auto_pooling_follows_the_sentence_transformers_config(tmp_path):
    """model.pooling: auto is mean only where the model directory says its encoder pools by
    the mean of the tokens (sentence-transformers' 1_Pooling/config.json), else cls."""
    import json

    from ftpipe.models import POOLING_CONFIG, resolve_pooling

    assert resolve_pooling("auto", "bundled") == "mean"  # the bundled MiniLM
    d = tmp_path / "m"
    d.mkdir()
    (d / "config.json").write_text("{}")
    assert resolve_pooling("auto", str(d)) == "cls"  # BERT, an ELECTRA discriminator: no such file
    (d / POOLING_CONFIG).parent.mkdir()
    (d / POOLING_CONFIG).write_text(json.dumps({"pooling_mode_cls_token": True, "pooling_mode_mean_tokens": False}))
    assert resolve_pooling("auto", str(d)) == "cls"
    (d / POOLING_CONFIG).write_text(json.dumps({"pooling_mode_mean_tokens": True}))
    assert resolve_pooling("auto", str(d)) == "mean" and resolve_pooling("cls", str(d)) == "cls"
    (d / POOLING_CONFIG).write_text("[1, 2")
    with pytest.raises(ModelError, match="1_Pooling/config.json: not a sentence-transformers pooling config"):
        resolve_pooling("auto", str(d))


def test_fetch_keeps_the_pooling_config_beside_the_weights(tmp_path):
    from ftpipe.config import EncoderConfig
    from ftpipe.encoder import fetch
    from ftpipe.models import POOLING_CONFIG, resolve_pooling

    out = fetch(EncoderConfig(name="bundled", trust_remote_code=False), tmp_path / "encoder")
    assert (out / POOLING_CONFIG).is_file() and (out / "model.safetensors").is_file()
    assert not (out / "README.md").exists()  # what a model directory does not need stays behind
    assert resolve_pooling("auto", str(out)) == "mean"

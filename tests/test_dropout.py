"""train.fast_dropout: the cheap CPU masks (rate, scale, seeding, gradient) and the
attention path (same numbers as SDPA without dropout, padding masked, undone after)."""

from __future__ import annotations

import json

import pytest
import torch
from transformers import AutoModelForQuestionAnswering

from ftpipe.dropout import NAME, FastDropout, dropout, fast_dropout, keep_mask


@pytest.mark.parametrize("p", [0.1, 0.5])
def test_mask_drops_p_and_scales_by_the_exact_keep_rate(p):
    torch.manual_seed(0)
    keep, scale = keep_mask((1000, 1001), p)  # odd size: the last 64-bit draw is partly used
    assert keep.dtype == torch.uint8 and keep.shape == (1000, 1001)
    assert abs(1 - keep.float().mean().item() - p) < 0.002
    assert scale == pytest.approx(65536 / (65536 - round(p * 65536)))


def test_masks_follow_the_torch_seed():
    torch.manual_seed(3)
    a = keep_mask((64, 64), 0.1)[0]
    torch.manual_seed(3)
    assert torch.equal(a, keep_mask((64, 64), 0.1)[0])
    assert not torch.equal(a, keep_mask((64, 64), 0.1)[0])


def test_dropout_keeps_the_expectation_and_its_gradient_is_the_mask():
    torch.manual_seed(0)
    x = torch.ones(400, 500, requires_grad=True)
    y = dropout(x, 0.2, training=True)
    scale = keep_mask((1,), 0.2)[1]
    assert torch.unique(y.detach()).tolist() == [0.0, pytest.approx(scale)]
    assert y.mean().item() == pytest.approx(1.0, abs=0.01)
    y.sum().backward()
    assert torch.equal(x.grad, y.detach())  # d(x * keep * scale)/dx = keep * scale
    assert dropout(x, 0.2, training=False) is x and dropout(x, 0.0, training=True) is x


def tiny(tiny_model_dir, hidden=0.0, attention=0.0):
    torch.manual_seed(0)
    return AutoModelForQuestionAnswering.from_pretrained(str(tiny_model_dir), hidden_dropout_prob=hidden,
                                                         attention_probs_dropout_prob=attention)


def padded_batch():
    torch.manual_seed(1)
    ids = torch.randint(1000, 5000, (3, 12))
    mask = torch.ones(3, 12, dtype=torch.long)
    mask[1, 7:] = 0
    mask[2, 3:] = 0
    return {"input_ids": ids, "attention_mask": mask}


@pytest.mark.parametrize("training", [True, False])
def test_attention_path_gives_sdpa_numbers_with_padding(tiny_model_dir, training):
    model = tiny(tiny_model_dir).train(training)
    batch = padded_batch()
    reference = model.bert(**batch).last_hidden_state
    with fast_dropout(model):
        assert model.config._attn_implementation == NAME
        out = model.bert(**batch).last_hidden_state
    torch.testing.assert_close(out, reference, atol=1e-5, rtol=1e-5)
    # the comparison sees padding: unmasked, the padded rows' real tokens would move
    unmasked = model.bert(input_ids=batch["input_ids"]).last_hidden_state
    assert (unmasked[1, :7] - reference[1, :7]).abs().max() > 1e-2


def test_attention_dropout_runs_in_training_only(tiny_model_dir):
    model = tiny(tiny_model_dir, attention=0.5).train()
    batch = padded_batch()
    with fast_dropout(model):
        a, b = model(**batch).start_logits, model(**batch).start_logits
        assert not torch.allclose(a, b)  # attention probabilities dropped: only dropout here
        a.sum().backward()
        assert model.qa_outputs.weight.grad is not None
        model.eval()
        torch.testing.assert_close(model(**batch).start_logits, model(**batch).start_logits)


def test_the_swap_is_undone_and_never_saved(tiny_model_dir, tmp_path):
    model = tiny(tiny_model_dir, hidden=0.1, attention=0.1)
    n_dropout = sum(type(m) is torch.nn.Dropout for m in model.modules())
    with fast_dropout(model):
        assert sum(isinstance(m, FastDropout) for m in model.modules()) == n_dropout > 0
        model.save_pretrained(tmp_path)
    assert not any(isinstance(m, FastDropout) for m in model.modules())
    assert model.config._attn_implementation == "sdpa"
    assert NAME not in json.dumps(json.loads((tmp_path / "config.json").read_text()))
    with fast_dropout(model, enabled=False):
        assert model.config._attn_implementation == "sdpa"

"""ELECTRA pretraining on tiny configs: example packing, the masking proportions, shared and
tied parameters, the discriminator's labels (a sampled original counts as original), the
loss weighting, evaluation, saving for the hand-off, and a killed run resuming exactly."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch

from conftest import REPO, DyingCollate, Interrupt, repo_params
from ftpipe.tasks.pretrain import TASK as PRETRAIN
from ftpipe.tasks.pretrain import PretrainModelConfig, electra_metrics
from ftpipe.tasks.pretrain.corpus import read_documents, sentences
from ftpipe.tasks.pretrain.electra import build, save
from ftpipe.tasks.pretrain.packing import ExampleBuilder

CLS, SEP = 101, 102


def model_cfg(**kw) -> PretrainModelConfig:
    base = {**repo_params()["pretrain"]["model"], "size": "custom", "custom": {
        "embedding_size": 16, "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2,
        "intermediate_size": 64}}
    return PretrainModelConfig(**{**base, **kw})


def tiny_rtd(tokenizer, **kw):
    return build(model_cfg(**kw), None, tokenizer, seed=0, trust=False)


def test_documents_and_sentences(tmp_path):
    (tmp_path / "corpus.txt").write_text("First doc. It has two sentences!\nA new line.\n\n\nSecond doc?\n")
    docs, _ = read_documents(str(tmp_path), "corpus.txt")
    assert docs == [["First doc.", "It has two sentences!", "A new line."], ["Second doc?"]]
    squad, _ = read_documents(str(REPO / "data/sample/qa"), "squad_sample.json")
    assert len(squad) == 60  # every distinct context of the embedded sample
    assert sentences("Mr. Smith came. He left") == ["Mr.", "Smith came.", "He left"]  # a plain rule


def test_packing_never_crosses_a_document_and_fits():
    b = ExampleBuilder(max_length=16, short_seq_prob=0.0, seed=1, cls_id=CLS, sep_id=SEP)
    doc1 = [[1] * 5, [2] * 5, [3] * 5, [4] * 5]
    doc2 = [[7] * 3]
    out = b.add_document(doc1) + b.add_document(doc2)
    assert [e["input_ids"][1:] for e in out if 7 in e["input_ids"]] == [[7, 7, 7, SEP]]  # its own example
    for e in out:
        ids, types = e["input_ids"], e["token_type_ids"]
        assert ids[0] == CLS and ids[-1] == SEP and len(ids) == e["length"] <= 16
        assert types == sorted(types) and types[0] == 0  # segment A (0) then B (1)
        if 1 in types:  # [CLS] A [SEP] B [SEP]
            first_b = types.index(1)
            assert ids[first_b - 1] == SEP
        assert not ({1, 2, 3, 4} & set(ids) and 7 in ids)


def test_packing_is_seeded_and_draws_short_targets():
    doc = [[i] * 4 for i in range(1, 200)]
    a = ExampleBuilder(64, 0.5, seed=3, cls_id=CLS, sep_id=SEP).add_document(doc)
    assert a == ExampleBuilder(64, 0.5, seed=3, cls_id=CLS, sep_id=SEP).add_document(doc)
    lengths = [e["length"] for e in a]
    assert min(lengths) < 40 and max(lengths) >= 60  # some short targets, most full


def test_masking_proportions(tokenizer):
    """15 % of real tokens selected; of those 85 % [MASK], 15 % unchanged, no random tokens."""
    torch.manual_seed(0)
    m = tiny_rtd(tokenizer)
    ids = torch.randint(1000, 20000, (64, 128))
    ids[:, 0], ids[:, -1] = CLS, SEP
    attention = torch.ones_like(ids)
    attention[:, 100:] = 0
    masked, selected = m.mask(ids, attention)
    assert not selected[:, 100:].any() and not selected[:, 0].any()  # never padding or specials
    real = attention.bool() & (ids != CLS) & (ids != SEP)
    assert abs(selected.sum() / real.sum() - 0.15) < 0.01
    as_mask = (masked == tokenizer.mask_token_id) & selected
    assert abs(as_mask.sum() / selected.sum() - 0.85) < 0.03
    assert torch.equal(masked[selected & ~as_mask], ids[selected & ~as_mask])  # the rest unchanged
    assert torch.equal(masked[~selected], ids[~selected])
    bert = tiny_rtd(tokenizer, objective="mlm", mask_token_prob=0.8, random_token_prob=0.1)
    masked, selected = bert.mask(ids, attention)
    changed = selected & (masked != tokenizer.mask_token_id) & (masked != ids)
    assert abs(changed.sum() / selected.sum() - 0.1) < 0.03  # BERT's random replacements


def test_embeddings_are_shared_and_the_generator_output_tied(tokenizer):
    m = tiny_rtd(tokenizer)
    d, g = m.discriminator.electra.embeddings, m.generator.electra.embeddings
    assert d is g  # word, position, token-type embeddings and the LayerNorm: one module
    assert m.generator.generator_lm_head.weight is d.word_embeddings.weight
    assert m.generator.config.hidden_size == 8 and m.generator.config.num_hidden_layers == 2  # 1/4, same depth
    names = [n for n, _ in m.named_parameters()]
    assert sum("word_embeddings" in n for n in names) == 1  # one tensor, counted once


def test_a_generator_beside_an_existing_encoder(tiny_model_dir, tokenizer):
    """Continued pretraining of a BERT encoder (the bundled MiniLM's architecture)."""
    m = build(model_cfg(pretrained=True), str(tiny_model_dir), tokenizer, seed=0, trust=False)
    assert m.head is not None and m.generator.electra.embeddings is m.discriminator.embeddings
    assert m.generator.config.embedding_size == m.discriminator.config.hidden_size
    out = m(torch.randint(1000, 2000, (2, 12)), torch.ones(2, 12, dtype=torch.long))
    assert torch.isfinite(out.loss)


@pytest.mark.parametrize("continued", [False, True])
def test_dropout_param_reaches_generator_and_discriminator(tiny_model_dir, tokenizer, continued):
    def dropouts(**kw):
        model = build(model_cfg(pretrained=continued, **kw), str(tiny_model_dir) if continued else None,
                      tokenizer, seed=0, trust=False)
        ps = {}  # the top-level module (discriminator, generator, head) -> its dropouts' p
        for n, m in model.named_modules():
            if isinstance(m, torch.nn.Dropout):
                ps.setdefault(n.split(".")[0], set()).add(m.p)
        return ps

    assert dropouts(dropout=0.0) == {"discriminator": {0.0}, "generator": {0.0}}
    assert dropouts(dropout=None) == {"discriminator": {0.1}, "generator": {0.1}}


def test_discriminator_labels_and_loss_weighting(tokenizer, monkeypatch):
    torch.manual_seed(0)
    m = tiny_rtd(tokenizer)
    ids = torch.randint(1000, 20000, (2, 8))
    selected = torch.zeros_like(ids, dtype=torch.bool)
    selected[0, 1] = selected[0, 2] = selected[1, 3] = selected[1, 4] = True
    originals = ids[selected]
    monkeypatch.setattr(m, "mask", lambda input_ids, attention: (input_ids.clone(), selected))
    # the generator samples the original token at two of the four selected positions
    monkeypatch.setattr(m, "sample", lambda logits, rows, input_ids: torch.stack(
        [originals[0], torch.tensor(5), originals[2], torch.tensor(5)]))
    out = m(ids, torch.ones_like(ids))
    expected = torch.zeros_like(selected)
    expected[0, 2] = expected[1, 4] = True
    assert torch.equal(out.rows["replaced"], expected)
    gen, disc = out.parts["gen_loss"], out.parts["disc_loss"]
    assert torch.allclose(out.loss, gen + 50.0 * disc)


def test_sampled_original_is_labelled_original(tokenizer):
    m = tiny_rtd(tokenizer)
    m.eval()
    ids = torch.randint(1000, 20000, (2, 40))
    logits = torch.full((3, m.config.vocab_size), -1e9)
    logits[:, 1234] = 0.0  # the generator is certain: token 1234
    rows = torch.tensor([0, 0, 1])
    assert m.sample(logits, rows, ids).tolist() == [1234, 1234, 1234]
    spread = torch.zeros((2000, m.config.vocab_size))
    draws = m.sample(spread, torch.zeros(2000, dtype=torch.long), ids)
    assert len(set(draws.tolist())) > 1500  # sampling, not argmax


def test_evaluation_is_deterministic_and_scored(tokenizer):
    m = tiny_rtd(tokenizer)
    m.eval()
    ids = torch.randint(1000, 20000, (3, 40))
    a, b = m(ids, torch.ones_like(ids)), m(ids.flip(0), torch.ones_like(ids))
    assert torch.equal(a.rows["selected"], b.rows["selected"].flip(0))  # per row, whatever the batch
    rows = {k: v.detach().float().numpy().ravel() for k, v in a.rows.items()}
    metrics = electra_metrics(rows)
    assert set(metrics) >= {"gen_accuracy", "disc_accuracy", "disc_precision", "disc_recall", "disc_auc"}
    perfect = {**rows, "disc_logits": rows["replaced"] * 4 - 2}
    assert electra_metrics(perfect)["disc_auc"] == 1.0 and electra_metrics(perfect)["disc_recall"] == 1.0


def test_electra_metrics_by_hand():
    """Every figure on a hand-made case, each by electra_metrics' own definition."""
    f = np.array
    p = {"selected": f([1., 1, 0, 0, 0, 0]), "gen_correct": f([1., 0, 1, 1, 1, 1]),
         "active": f([1., 1, 1, 1, 1, 0]), "replaced": f([1., 0, 1, 0, 0, 1]),
         "disc_logits": f([2., 1, -1, 2, 0, -5])}
    m = electra_metrics(p)
    # generator, over the selected tokens 0-1: gen_correct [1, 0] -> 0.5; 2 of 6 selected -> 33.3 %
    assert m["gen_accuracy"] == 0.5 and m["selected_pct"] == pytest.approx(100 / 3)
    # discriminator, over the active tokens 0-4 (token 5 is padding):
    # replaced y = [T, F, T, F, F] -> 2/5 = 40 %; guess = logit > 0 = [T, T, F, T, F] (logit 0 is no guess)
    # guess == y at tokens 0 and 4 -> 2/5; tp = 1 (token 0): precision 1/3 guesses, recall 1/2 replaced
    assert m["replaced_pct"] == pytest.approx(40.0) and m["disc_accuracy"] == pytest.approx(0.4)
    assert m["disc_precision"] == pytest.approx(1 / 3) and m["disc_recall"] == pytest.approx(0.5)
    # AUC from the logits: replaced {2, -1} against original {1, 2, 0}: pairs won 2 > 1, 2 > 0,
    # tie 2 = 2 (1/2), -1 loses all three -> 2.5 / 6
    assert m["disc_auc"] == pytest.approx(2.5 / 6)
    # the AUC ranks by the logit, not the 0/1 guess: both logits positive (guessed the same), ranked right
    ranked = electra_metrics({**p, "active": f([1., 1]), "replaced": f([1., 0]), "disc_logits": f([2., 1])})
    assert ranked["disc_auc"] == 1.0  # by guess: a tie, 0.5


def test_electra_auc_of_one_class_is_chance():
    """Nothing (or everything) replaced among the active tokens: no AUC exists; 0.5 stands in."""
    f = np.array
    p = {"selected": f([1.]), "gen_correct": f([1.]), "active": f([1., 1]), "disc_logits": f([-1., 1])}
    assert electra_metrics({**p, "replaced": f([0., 0])})["disc_auc"] == 0.5
    assert electra_metrics({**p, "replaced": f([1., 1])})["disc_auc"] == 0.5


def test_save_writes_what_fine_tuning_and_continuing_load(tokenizer, tmp_path):
    from transformers import AutoModelForSequenceClassification

    m = tiny_rtd(tokenizer)
    save(m, tokenizer, tmp_path)
    assert (tmp_path / "discriminator" / "model.safetensors").is_file()
    assert (tmp_path / "generator" / "tokenizer.json").is_file() or (tmp_path / "generator" / "vocab.txt").is_file()
    clf = AutoModelForSequenceClassification.from_pretrained(tmp_path / "discriminator", num_labels=2)
    assert torch.equal(clf.electra.encoder.layer[0].attention.self.query.weight,
                       m.discriminator.electra.encoder.layer[0].attention.self.query.weight)
    again = build(model_cfg(pretrained=True), str(tmp_path), tokenizer, seed=1, trust=False)
    assert torch.equal(again.generator.electra.encoder.layer[0].output.dense.weight,
                       m.generator.electra.encoder.layer[0].output.dense.weight)
    assert again.generator.electra.embeddings is again.discriminator.electra.embeddings


def test_a_continued_sentence_encoder_keeps_pooling_by_the_mean(tiny_model_dir, tokenizer, tmp_path):
    """Continued from a sentence-transformers encoder (the bundled MiniLM pools by the mean),
    the saved discriminator says so too: a task's `pooling: auto` stays `mean` on the hand-off."""
    import shutil

    from ftpipe.models import POOLING_CONFIG, resolve_pooling

    start = tmp_path / "start"
    shutil.copytree(tiny_model_dir, start)
    (start / POOLING_CONFIG).parent.mkdir()
    (start / POOLING_CONFIG).write_text('{"pooling_mode_mean_tokens": true}')
    save(build(model_cfg(pretrained=True), str(start), tokenizer, seed=0, trust=False), tokenizer, tmp_path / "a")
    assert resolve_pooling("auto", str(tmp_path / "a" / "discriminator")) == "mean"
    # and on once more from that pair; an encoder without the config (BERT, ELECTRA) stays cls
    again = build(model_cfg(pretrained=True), str(tmp_path / "a"), tokenizer, seed=0, trust=False)
    save(again, tokenizer, tmp_path / "b")
    assert resolve_pooling("auto", str(tmp_path / "b" / "discriminator")) == "mean"
    save(build(model_cfg(pretrained=True), str(tiny_model_dir), tokenizer, seed=0, trust=False), tokenizer,
         tmp_path / "c")
    assert resolve_pooling("auto", str(tmp_path / "c" / "discriminator")) == "cls"


def test_pretrain_params_that_cannot_apply(tmp_path):
    import yaml

    from ftpipe.config import ParamsError, load_params

    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["pretrain"]["model"].update(mask_token_prob=0.95, random_token_prob=0.1)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    with pytest.raises(ParamsError, match="mask_token_prob \\+ random_token_prob"):
        load_params(tmp_path / "params.yaml", "pretrain")
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["pretrain"]["train"]["method"] = "lora"
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    with pytest.raises(ParamsError, match="pretrain.train.method: invalid value 'lora' for the pretrain task"):
        load_params(tmp_path / "params.yaml", "pretrain")


def test_a_killed_pretraining_run_resumes_to_identical_numbers(tokenizer, tmp_path, capsys):
    import datasets

    from conftest import train_config
    from ftpipe.training import Evaluation, fit
    from ftpipe.verbs.train import evaluator

    from conftest import run_params

    docs, _ = read_documents(str(REPO / "data/sample/qa"), "squad_sample.json")
    records = [{"id": str(i), "sentences": d} for i, d in enumerate(docs[:12])]
    cfg_tok = PRETRAIN.tokenize_config(max_length=64, short_seq_prob=0.05, packing_seed=0)
    cols, _ = PRETRAIN.featurize(records, tokenizer, cfg_tok, "train", {})
    ds = datasets.Dataset.from_dict(cols)
    rows = ds.select_columns(["input_ids", "attention_mask", "token_type_ids"])
    cfg = train_config(epochs=2, batch_size=8, lr=1e-3, precision="fp32", log_every=1, checkpoint_every=2,
                       eval_every=3)
    params = run_params("pretrain", precision="fp32")

    def run(name, collate):
        model = tiny_rtd(tokenizer)
        evaluation = Evaluation(evaluator(PRETRAIN, ds, records, tokenizer.pad_token_id, params, {}), "disc_auc")
        return fit(model, rows, collate, ds["length"], cfg, 5, evaluation, tmp_path / name,
                   checkpoint_dir=tmp_path / "ckpt"), model

    base = PRETRAIN.collator(tokenizer, ds.column_names)
    full, model_a = run("full", base)
    # dies early in the second epoch, after a checkpoint mid-way through the first
    collate = DyingCollate(base, die_at=len(ds) // 8 + 2)
    with pytest.raises(Interrupt):
        run("resumed", collate)
    assert (tmp_path / "ckpt" / "state.json").exists()
    capsys.readouterr()
    collate.reset()
    resumed, model_b = run("resumed", collate)
    # The checkpoint was read (a fresh start would match `full` too: same seeds), and only the
    # steps after it were trained again.
    resumed_at = re.search(r"resuming from .*: epoch \d+, step (\d+)", capsys.readouterr().out)
    assert resumed_at, "the resumed run did not read the checkpoint of the killed one"
    assert 0 < int(resumed_at.group(1)) < full.steps and collate.n == full.steps - int(resumed_at.group(1))
    strip = lambda rows: [{k: v for k, v in r.items() if not k.endswith("_per_s")} for r in rows]
    assert strip(resumed.log.steps) == strip(full.log.steps) and resumed.log.evals == full.log.evals
    assert resumed.epochs == full.epochs and "gen_loss" in full.log.steps[0]
    for (k, a), (_, b) in zip(model_a.state_dict().items(), model_b.state_dict().items()):
        assert torch.equal(a, b), k

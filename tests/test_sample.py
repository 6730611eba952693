"""The embedded default dataset: SQuAD v1.1 format, offsets right, several questions per paragraph."""

import json

from conftest import REPO
from ftpipe.tasks.qa.squad import load_squad

SAMPLE = REPO / "data" / "sample" / "qa" / "squad_sample.json"


def test_sample_answers_sit_at_their_offsets():
    data = json.loads(SAMPLE.read_text(encoding="utf-8"))
    n_q, n_p = 0, 0
    for art in data["data"]:
        assert len(art["paragraphs"]) >= 3  # multiple-choice distractors come from the same article
        for para in art["paragraphs"]:
            n_p += 1
            assert len(para["qas"]) >= 3
            for qa in para["qas"]:
                for ans in qa["answers"]:
                    s = ans["answer_start"]
                    assert para["context"][s:s + len(ans["text"])] == ans["text"], qa["id"]
                n_q += 1
    assert n_q >= 300 and n_p >= 50


def test_sample_loads_without_repairs():
    rows, report = load_squad(SAMPLE)
    d = report.as_dict()
    assert d["questions"]["dropped"] == d["answers"]["dropped"] == d["answers"]["repaired"] == 0
    assert d["questions"]["kept"] == len(rows) == d["answers"]["kept"]
    assert len({r["id"] for r in rows}) == len(rows)

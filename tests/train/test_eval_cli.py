"""`layerdecomp eval`: runs a backend over triplet shards or built-in cases and prints the metrics."""

from __future__ import annotations

import json

import numpy as np

from layerdecomp.cli import main
from layerdecomp.data import build, procedural
from layerdecomp.eval.run import run, summarise, triplet_to_case


def test_eval_table_and_json(tmp_path, capsys):
    build(tmp_path / "set", 3, 64, seed=4)
    assert main(["eval", "--data", str(tmp_path / "set"), "--backend", "classical", "-q"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("3 cases") and "| bg_psnr_hole (↑) |" in out and "| alpha_iou (↑) |" in out
    assert main(["eval", "--data", str(tmp_path / "set"), "--backend", "classical", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    summary = report["summary"]["classical"]
    assert report["cases"] == 3 and len(report["per_case"]["classical"]) == 3
    assert summary["outside_maxdiff"] == 0.0  # faithful layering, through the whole API
    assert 0.3 < summary["alpha_iou"] <= 1.0 and summary["bg_psnr_hole"] > 10


def test_eval_needs_exactly_one_case_source(tmp_path, capsys):
    assert main(["eval", "--backend", "classical"]) == 2
    assert "--data DIR" in capsys.readouterr().err
    assert main(["eval", "--data", str(tmp_path / "none"), "--backend", "classical"]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_triplet_case_truths_and_a_perfect_answer_scores_perfectly():
    t = procedural.triplets(3, 32, seed=8)[2]
    case = triplet_to_case(t, "x")
    assert np.array_equal(case.hidden, t.hidden) and case.alpha.max() == 1.0
    rows = run([case], "classical")
    assert summarise(rows)["outside_maxdiff"] == 0.0

"""The extension and the reports use the same words: extension/src/shared/wording.js and
deepsentry/report/wording.py are compared table by table, and their grading and percent rules on the
same inputs."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from deepsentry.report import wording as W

ROOT = Path(__file__).resolve().parents[2]
CASES = [{"label": "fake", "fake_prob": 0.95}, {"label": "fake", "fake_prob": 0.7}, {"label": "uncertain", "fake_prob": 0.5},
         {"label": "real", "fake_prob": 0.3}, {"label": "real", "fake_prob": 0.05}, {"label": "no_faces", "fake_prob": None},
         {"label": "no_faces", "fake_prob": None, "reason": "faces_too_small"},
         {"label": "uncertain", "fake_prob": None, "reason": "no_weights"}]
PROBS = [0.0, 0.004, 0.01, 0.155, 0.125, 0.5, 0.99, 0.998, 1.0]


@pytest.mark.skipif(shutil.which("node") is None, reason="node is installed by scripts/setup.sh --test")
def test_extension_and_report_wording_agree():
    script = (f"import('{(ROOT / 'extension/src/shared/wording.js').as_uri()}').then((m) => console.log(JSON.stringify({{"
              "verdict: m.VERDICT_WORDS, limits: m.KNOWN_LIMITS, prov: m.PROVENANCE_WORDS, c2pa: m.C2PA_CODES, cautions: m.CAUTIONS, "
              f"grades: {json.dumps(CASES)}.map((v) => m.grade(v)), pct: {json.dumps(PROBS)}.map(m.percent)}})))")
    out = json.loads(subprocess.run(["node", "--input-type=module", "-e", script], capture_output=True, text=True,
                                    check=True, timeout=60).stdout)
    assert out["verdict"] == {k: list(v) for k, v in W.VERDICT_WORDS.items()}
    assert out["limits"] == list(W.KNOWN_LIMITS)
    assert out["prov"] == W.PROVENANCE_WORDS and out["c2pa"] == W.C2PA_CODES and out["cautions"] == W.CAUTIONS
    assert out["grades"] == [W.grade(v) for v in CASES]
    assert out["pct"] == [W.percent(p) for p in PROBS] == ["<1%", "<1%", "1%", "16%", "13%", "50%", "99%", ">99%", ">99%"]

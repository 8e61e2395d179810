"""The API's JSON keeps its shape: one analysis (with and without explain), one verify and one error
answer of a real daemon are reduced to their shape (every key, and the JSON type at each place) and
compared with the shapes recorded in ``tests/golden/``. A refactor that renames, drops or retypes a
field fails here; an intended change rewrites the file with ``DEEPSENTRY_UPDATE_GOLDEN=1``."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.daemon.media_files import make_all

GOLDEN = Path(__file__).resolve().parents[1] / "golden"


def shape(obj):
    if isinstance(obj, dict):
        return {k: shape(v) for k, v in sorted(obj.items())}
    if isinstance(obj, list):
        return [shape(obj[0])] if obj else []
    if isinstance(obj, bool):
        return "bool"
    if isinstance(obj, (int, float)):
        return "number"
    if isinstance(obj, str):
        return "string"
    return "null"


def check(name: str, obj) -> None:
    path = GOLDEN / f"{name}.json"
    got = shape(obj)
    if os.environ.get("DEEPSENTRY_UPDATE_GOLDEN") == "1":
        path.write_text(json.dumps(got, indent=1, sort_keys=True) + "\n")
    assert got == json.loads(path.read_text()), f"{name}: the API's JSON changed shape (see {path})"


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    return make_all(tmp_path_factory.mktemp("goldenmedia"))


def test_analysis_verify_and_error_answers_keep_their_shape(daemon, files):
    clip = files["clip"].read_bytes()
    r = daemon.post("/v1/analyze?wait=1&nocache=1", files={"file": ("one.mp4", clip)})
    assert r.status_code == 200
    job = r.json()
    job["result"].pop("timings")                 # per-stage timings are informative, their keys may grow
    check("analyze_job", job)
    r = daemon.post("/v1/analyze?wait=1&nocache=1&explain=1&provenance=false", files={"file": ("one.mp4", clip)})
    explained = r.json()["result"]
    explained.pop("timings")
    check("analyze_explain_result", explained)
    v = daemon.post("/v1/verify?wait=1", files={"file": ("one.mp4", clip)})
    assert v.status_code == 200
    check("verify_job", v.json())
    e = daemon.post("/v1/analyze?wait=1", files={"file": ("random.bin", files["random"].read_bytes())})
    assert e.status_code == 415
    check("error", e.json())


def test_results_match_the_schema_the_daemon_publishes(daemon, files):
    """The OpenAPI schemas are generated from the result records: real answers (a face clip with
    explain, a clip without faces) validate against the document the daemon serves, and an answer with
    a field of the wrong type does not."""
    from jsonschema import Draft202012Validator

    spec = daemon.get("/v1/openapi.json").json()
    validator = Draft202012Validator({"$ref": "#/components/schemas/Job", "components": spec["components"]})
    r = daemon.post("/v1/analyze?wait=1&nocache=1&explain=1", files={"file": ("one.mp4", files["clip"].read_bytes())})
    job = r.json()
    assert job["result"]["faces"] and not list(validator.iter_errors(job))
    none = daemon.post("/v1/analyze?wait=1&nocache=1", files={"file": ("none.mp4", files["noface"].read_bytes())}).json()
    assert none["result"]["verdict"]["label"] == "no_faces" and not list(validator.iter_errors(none))
    result_only = Draft202012Validator({"$ref": "#/components/schemas/AnalysisResult", "components": spec["components"]})
    assert not list(result_only.iter_errors(job["result"]))
    bad = json.loads(json.dumps(job["result"]))
    bad["faces"][0]["boxes"][0]["x"] = "left"
    bad["verdict"]["label"] = "maybe"
    paths = {tuple(e.absolute_path) for e in result_only.iter_errors(bad)}
    assert ("verdict", "label") in paths and ("faces", 0, "boxes", 0, "x") in paths

"""humc synth --engine ray: Ray actors on a local cluster make the corpus `--jobs` makes locally,
byte for byte."""
import importlib.util
from pathlib import Path

import pytest
from click.testing import CliRunner

from humdsl.cli import main

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "examples" / "support_tickets.hum"
DATA = ROOT / "examples" / "data" / "tickets_entities.gold.jsonl"


def humc(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason="Ray is not installed: pip install 'humdsl[ray]'")
def test_ray_actors_make_the_local_corpus_byte_for_byte(tmp_path):
    import json

    from humdsl.synth.corpus import CHUNK

    lines = [json.loads(x) for x in DATA.read_text(encoding="utf-8").splitlines()]
    data = tmp_path / "data.jsonl"  # enough examples for several chunks, so both actors work
    data.write_text("".join(json.dumps({**x, "id": f"{x['id']}-{n}"}) + "\n"
                            for n in range(3 * CHUNK // len(lines) + 1) for x in lines), encoding="utf-8")
    local = tmp_path / "local.jsonl"
    r = humc("synth", SPEC, "--task", "ticket_entities", "--data", data, "--out", local, "--seed", "4")
    assert r.exit_code == 0, r.output
    for jobs in ("1", "2"):
        out = tmp_path / f"ray{jobs}.jsonl"
        r = humc("synth", SPEC, "--task", "ticket_entities", "--data", data, "--out", out, "--seed", "4",
                 "--engine", "ray", "--jobs", jobs)
        assert r.exit_code == 0, r.output
        assert out.read_bytes() == local.read_bytes()


def test_ray_options_go_together():
    r = humc("synth", SPEC, "--task", "ticket_entities", "--data", DATA, "--out", "/tmp/x.jsonl",
             "--address", "auto")
    assert r.exit_code == 2 and "--address goes with --engine ray" in r.output


@pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason="Ray is not installed: pip install 'humdsl[ray]'")
def test_a_declared_corpus_is_made_on_ray_as_locally(tmp_path):
    import shutil

    shutil.copytree(ROOT / "examples" / "data", tmp_path / "data")
    spec = tmp_path / "tickets.hum"
    spec.write_text(SPEC.read_text(encoding="utf-8") + (
        '\ncorpus mix {\n  instances 40\n'
        '  task ticket_triage { data "data/tickets_triage.gold.jsonl" share 0.5 }\n'
        '  task ticket_entities { data "data/tickets_entities.gold.jsonl" share 0.5 }\n}\n'), encoding="utf-8")
    local, ray = tmp_path / "local.jsonl", tmp_path / "ray.jsonl"
    r = humc("synth", spec, "--corpus", "mix", "--out", local)
    assert r.exit_code == 0, r.output
    r = humc("synth", spec, "--corpus", "mix", "--out", ray, "--engine", "ray", "--jobs", "2")
    assert r.exit_code == 0, r.output
    assert ray.read_bytes() == local.read_bytes()


@pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason="Ray is not installed: pip install 'humdsl[ray]'")
def test_humc_run_on_ray_actors_writes_the_local_file(tmp_path, model_dir):
    import json

    texts = ["Ann Lee met Bo Chan in Oslo .", "The Nordic Energy Forum opened in Bergen .", "Maria flew to Lisbon .",
             "Kim sold Acme shares in Seoul .", "Tom visited Paris .", "Lena joined Nokia in Espoo ."]
    inputs = tmp_path / "in.jsonl"
    inputs.write_text("".join(json.dumps({"id": str(i), "text": t}) + "\n" for i, t in enumerate(texts)),
                      encoding="utf-8")
    spec = ROOT / "specs" / "ner.hum"
    common = ["run", spec, "--task", "conll03", "--format", "tuples", "--model", model_dir, "--input", inputs,
              "--batch-size", "2"]
    r = humc(*common, "--output", tmp_path / "local.jsonl")
    assert r.exit_code == 0, r.output
    r = humc(*common, "--output", tmp_path / "ray.jsonl", "--engine", "ray", "--concurrency", "2")
    assert r.exit_code == 0, r.output
    assert "(ray: 2 x jump-forward)" in r.output
    assert (tmp_path / "ray.jsonl").read_bytes() == (tmp_path / "local.jsonl").read_bytes()
    r = humc(*common, "--output", tmp_path / "x.jsonl", "--address", "auto")
    assert r.exit_code == 1 and "--address goes with --engine ray" in r.output

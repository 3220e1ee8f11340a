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


@pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason="Ray is not installed: pip install 'humdsl[ray]'")
def test_humc_run_on_ray_actors_sends_to_several_servers_and_writes_what_one_server_gives(tmp_path):
    """Each actor is a client of one server (the actors take turns) and checks its answers; a
    seeded run writes the answers one server gives to a local `--engine openai` run."""
    import json

    from support.fake_openai import FakeServer

    texts = ["Ann Lee met Bo Chan in Oslo .", "The Nordic Energy Forum opened in Bergen .", "Maria flew to Lisbon .",
             "Kim sold Acme shares in Seoul .", "Tom visited Paris .", "Lena joined Nokia in Espoo ."]
    inputs = tmp_path / "in.jsonl"
    inputs.write_text("".join(json.dumps({"id": str(i), "text": t}) + "\n" for i, t in enumerate(texts)),
                      encoding="utf-8")
    common = ["run", ROOT / "specs" / "ner.hum", "--task", "conll03", "--format", "tuples", "--input", inputs,
              "--batch-size", "2", "--seed", "3", "--temperature", "1"]
    with FakeServer() as a, FakeServer() as b, FakeServer(model="other") as c:
        r = humc(*common, "--output", tmp_path / "one.jsonl", "--engine", "openai", "--base-url", a.url)
        assert r.exit_code == 0, r.output
        a.requests.clear()
        r = humc(*common, "--output", tmp_path / "ray.jsonl", "--engine", "ray", "--concurrency", "2",
                 "--base-url", f"{a.url},{b.url}")
        assert r.exit_code == 0, r.output
        assert "(ray: 2 x openai:" in r.output
        for server in (a, b):  # both answered rows, besides the probe
            assert any("humdsl probe" not in q["structured_outputs"]["grammar"] for q in server.requests)
        r = humc(*common, "--output", tmp_path / "x.jsonl", "--engine", "ray", "--base-url", f"{a.url},{c.url}")
        assert r.exit_code == 1 and "the servers serve different models (other, smollm2)" in r.output
        r = humc(*common, "--output", tmp_path / "x.jsonl", "--engine", "openai", "--base-url", f"{a.url},{b.url}")
        assert r.exit_code == 1 and "for several, --engine ray --base-url" in r.output
    one, ray = ([json.loads(x) for x in (tmp_path / f).read_text(encoding="utf-8").splitlines()]
                for f in ("one.jsonl", "ray.jsonl"))
    assert [(x["id"], x["raw"], x["record"]) for x in ray] == [(x["id"], x["raw"], x["record"]) for x in one]
    assert {x["model"] for x in ray} == {f"openai:{a.url}/smollm2,openai:{b.url}/smollm2"}


@pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason="Ray is not installed: pip install 'humdsl[ray]'")
def test_a_lost_actor_is_started_again_and_its_work_sent_again(tmp_path):
    """An actor whose process dies (a node lost) comes back and gets its calls again: each call is
    a pure function of its item, so the results, in order, are those of a run that lost nothing.
    An actor lost for good stops the run with one line."""
    import os

    from humdsl.ray_cluster import RESTARTS, RayError, actor_class, ordered_map, ray_cluster

    class Flaky:
        def __init__(self, marker: str, always: bool = False):
            self.marker, self.always = marker, always

        def run(self, item: int) -> int:
            if item == 2 and (self.always or not os.path.exists(self.marker)):
                open(self.marker, "w").close()
                os._exit(1)  # the process dies, as on a lost node
            return item * 10

    with ray_cluster(2, None) as ray:
        cls = actor_class(ray, Flaky)
        actors = [cls.remote(str(tmp_path / "died")) for _ in range(2)]
        assert list(ordered_map(ray, actors, "run", iter(range(6)))) == [(i, i * 10) for i in range(6)]
        assert (tmp_path / "died").exists()
        actors = [cls.remote(str(tmp_path / "again"), True) for _ in range(2)]
        with pytest.raises(RayError, match=f"lost {RESTARTS + 1} times"):
            list(ordered_map(ray, actors, "run", iter(range(6))))

"""The on-disk constraint cache and the schema backends (outlines_core, xgrammar) of humc run:
entries are checked before use, written atomically, keyed by tokenizer; the second run of a
spec loads its constraint instead of compiling it; schemas are made finite and budgeted; what a
backend cannot do is refused in words."""
import json
import multiprocessing
import os

import pytest
from click.testing import CliRunner

from humdsl.cli import main
from humdsl.runtime.constraint_cache import ConstraintCache, entry_key, tokenizer_hash
from humdsl.runtime.schema_backends import (UnboundedSchema, bounded_schema, schema_budget,
                                            schema_max_bytes, schema_positions)
from support.tasks import ROOT

TICKETS = ROOT / "examples" / "data" / "tickets.jsonl"
SPEC = ROOT / "examples" / "support_tickets.hum"


def run(*args):
    return CliRunner().invoke(main, ["run", *map(str, args)])


# -- the cache itself ---------------------------------------------------------------------------

def test_round_trip_and_miss(tmp_path):
    cache = ConstraintCache(tmp_path)
    key = entry_key(backend="b", constraint="x")
    assert cache.get(key) is None
    cache.put(key, b"payload\nwith\nlines")
    assert cache.get(key) == b"payload\nwith\nlines"
    assert not [p for p in tmp_path.rglob("*") if p.name.startswith(".tmp-")]  # no temporary left


@pytest.mark.parametrize("damage", ["flip", "truncate", "other_key", "garbage"])
def test_a_damaged_entry_is_never_used(tmp_path, damage):
    cache = ConstraintCache(tmp_path)
    key, other = entry_key(constraint="a"), entry_key(constraint="b")
    cache.put(key, b"0123456789" * 100)
    path = next(tmp_path.rglob("*.bin"))
    data = path.read_bytes()
    if damage == "flip":
        data = data[:-5] + bytes([data[-5] ^ 1]) + data[-4:]
    elif damage == "truncate":
        data = data[:-100]
    elif damage == "other_key":
        data = data.replace(key.encode(), other.encode())
    else:
        data = b"\x00\x01 not an entry"
    path.write_bytes(data)
    assert cache.get(key) is None
    assert cache.stats.corrupt == 1 and not path.exists()  # deleted, so the next run rebuilds it
    built = cache.get_or_build(key, lambda: "fresh", dump=str.encode, load=bytes.decode)
    assert built == "fresh" and cache.stats.misses == 1
    assert ConstraintCache(tmp_path).get(key) == b"fresh"


def test_an_entry_the_backend_cannot_load_is_rebuilt(tmp_path):
    cache = ConstraintCache(tmp_path)
    key = entry_key(constraint="c")
    cache.put(key, b"from another version")

    def load(payload):
        raise ValueError("unknown format")

    assert cache.get_or_build(key, lambda: b"new", dump=lambda v: v, load=load) == b"new"
    assert cache.stats.corrupt == 1 and cache.stats.misses == 1 and cache.stats.hits == 0


def test_an_unwritable_cache_does_not_fail(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    cache = ConstraintCache(blocker / "constraints")
    assert cache.get_or_build(entry_key(x="1"), lambda: b"v", dump=lambda v: v, load=lambda p: p) == b"v"


def _writer(root, key, payload, rounds):
    cache = ConstraintCache(root)
    for _ in range(rounds):
        cache.put(key, payload)


def test_the_least_recently_used_entries_go_when_the_cache_is_full(tmp_path):
    import time

    mb = 1024 * 1024
    cache = ConstraintCache(tmp_path, max_bytes=int(2.5 * mb))
    a, b, c = (entry_key(constraint=x) for x in "abc")
    cache.put(a, b"a" * mb)
    time.sleep(0.02)
    cache.put(b, b"b" * mb)
    time.sleep(0.02)
    assert cache.get(a) is not None  # a hit: a is now more recent than b
    time.sleep(0.02)
    cache.put(c, b"c" * mb)  # three entries do not fit in 2.5 MB: b, the least recently used, goes
    assert cache.get(b) is None and cache.get(a) is not None and cache.get(c) is not None
    assert cache.stats.evicted == 1 and "1 old entry removed" in cache.stats.summary()


def test_an_entry_larger_than_the_bound_is_still_kept(tmp_path, monkeypatch):
    monkeypatch.setenv("HUMC_CACHE_MAX_MB", "0.5")
    cache = ConstraintCache(tmp_path)
    key = entry_key(constraint="big")
    cache.put(key, b"x" * 1024 * 1024)  # what was just built is used again next run
    assert cache.get(key) is not None
    monkeypatch.setenv("HUMC_CACHE_MAX_MB", "lots")  # a malformed bound falls back to the default
    assert ConstraintCache(tmp_path).max_bytes == 2048 * 1024 * 1024


def test_concurrent_writers_and_readers_see_whole_entries(tmp_path):
    key = entry_key(constraint="shared")
    payload = os.urandom(1 << 20)  # large enough that a non-atomic write would be seen half done
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(tmp_path, key, payload, 15)) for _ in range(2)]
    for p in procs:
        p.start()
    reader = ConstraintCache(tmp_path)
    seen = 0
    while any(p.is_alive() for p in procs):
        got = reader.get(key)
        if got is not None:
            assert got == payload
            seen += 1
    for p in procs:
        p.join()
        assert p.exitcode == 0
    assert reader.get(key) == payload and reader.stats.corrupt == 0
    assert not [p for p in tmp_path.rglob("*") if p.name.startswith(".tmp-")]


def test_the_key_changes_with_the_tokenizer(tokenizers):
    import copy

    hf, _ = tokenizers
    other = copy.deepcopy(hf)
    other.add_tokens(["<extra-token>"])
    assert tokenizer_hash(hf) == tokenizer_hash(copy.deepcopy(hf))
    assert tokenizer_hash(hf) != tokenizer_hash(other)


# -- finite schemas -----------------------------------------------------------------------------

def test_schemas_are_bounded_and_budgeted():
    import humdsl

    fmt = humdsl.load(SPEC).task("ticket_entities").format("json_by_label")
    raw = fmt.json_schema()
    with pytest.raises(UnboundedSchema):
        schema_max_bytes(raw)  # spans have no maxLength in the artifact's schema
    schema = bounded_schema(raw, max_chars=7)
    # the longest answer: every list full, every span 7 characters that JSON escapes as \\u00XX
    worst = {k: ["\x01" * 7] * v["maxItems"] for k, v in schema["properties"].items()}
    text = json.dumps(worst, separators=(",", ":"))
    assert len(text.encode()) == schema_max_bytes(schema) and schema_budget(schema) == len(text) + 1
    with pytest.raises(UnboundedSchema):
        bounded_schema({"type": "array", "items": {"type": "string"}})
    assert schema_positions(schema) > schema_positions(bounded_schema(raw, max_chars=3))


# -- humc run on the schema backends ------------------------------------------------------------

def _backend_or_skip(name):
    if name == "xgrammar":
        pytest.importorskip("xgrammar", reason="xgrammar is not installed (pip install --no-deps xgrammar "
                                               "apache-tvm-ffi)")


@pytest.mark.parametrize("backend", ["outlines_core", "xgrammar"])
def test_second_run_loads_the_compiled_constraint(backend, model_dir, tmp_path, monkeypatch):
    _backend_or_skip(backend)
    monkeypatch.setenv("HUMC_CACHE_DIR", str(tmp_path / "cache"))
    outs = []
    for n in (1, 2):
        out = tmp_path / f"out{n}.jsonl"
        r = run(SPEC, "--task", "ticket_triage", "--format", "json_labels", "--model", model_dir,
                "--input", TICKETS, "--output", out, "--backend", backend, "--seed", "3", "--temperature", "1.0")
        assert r.exit_code == 0, r.output
        assert f"(outlines+{backend})" in r.output
        assert ("0 hits, 1 built" if n == 1 else "1 hit, 0 built") in r.output
        lines = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
        for line in lines:
            assert line["record"] is not None, line
            assert set(line["record"]["labels"]) <= {"billing", "bug", "feature_request", "account", "outage"}
        outs.append([x["raw"] for x in lines])
    assert outs[0] == outs[1]  # same seed, the loaded constraint decodes as the built one did
    assert list((tmp_path / "cache" / "constraints").rglob("*.bin"))


def test_ungrounded_answers_are_reported_on_schema_backends(model_dir, tmp_path):
    """xgrammar cannot ground spans or hold the span rules: the random model's spans fail the
    parse-time check and are written as error lines, with a non-zero exit."""
    _backend_or_skip("xgrammar")
    inp = tmp_path / "in.jsonl"
    inp.write_text('{"id": "a", "text": "The Lumo Hub crashed."}\n', encoding="utf-8")
    out = tmp_path / "out.jsonl"
    r = run(SPEC, "--task", "ticket_entities", "--format", "json_records", "--model", model_dir,
            "--input", inp, "--output", out, "--backend", "xgrammar", "--seed", "0", "--temperature", "1.0",
            "--shots", "0")
    line = json.loads(out.read_text(encoding="utf-8"))
    # seeded: the random model's span breaks the span rules the schema cannot hold
    assert line["record"] is None and r.exit_code == 1 and "1 failed to parse" in r.output
    assert "checked here, after decoding" in line["error"] and line["raw"].startswith("[")


def test_what_a_backend_cannot_do_is_refused(model_dir, tmp_path):
    base = [SPEC, "--model", model_dir, "--input", TICKETS, "--output", tmp_path / "o.jsonl"]
    r = run(*base, "--task", "ticket_triage", "--format", "bare_label", "--backend", "outlines_core")
    assert r.exit_code == 1 and "is not JSON-shaped" in r.output and "Traceback" not in r.output
    r = run(*base, "--task", "ticket_entities", "--format", "json_by_label", "--backend", "outlines_core")
    assert r.exit_code == 1 and "too large for outlines_core" in r.output and "4,021" in r.output
    r = run(*base, "--task", "ticket_triage", "--format", "json_labels", "--backend", "outlines_core",
            "--decoder", "jump-forward")
    assert r.exit_code == 1 and "jump-forward decoding runs on llguidance only" in r.output
    r = run(*base, "--task", "ticket_triage", "--format", "json_labels", "--backend", "xgrammar", "--reason", "50")
    assert r.exit_code == 1 and "--reason needs the llguidance backend" in r.output
    assert not (tmp_path / "o.jsonl").exists()


def test_python_api_on_a_schema_backend(model_dir):
    import humdsl
    from humdsl.runtime.models import load

    task = humdsl.load(SPEC).task("ticket_triage")
    records = task.run(["The invoice page shows a double charge."], model=load(str(model_dir)),
                       format="json_labels", backend="outlines_core", temperature=1.0, seed=0)
    assert len(records) == 1
    assert set(records[0]["labels"]) <= {"billing", "bug", "feature_request", "account", "outage"}


def test_the_tokenizer_key_ignores_padding_switched_on_by_a_batch(tokenizers):
    """A model loaded once and reused (humc tune) encodes batches with padding, which the
    tokenizer keeps as its own setting: its constraints must keep their cache key."""
    import copy

    from humdsl.runtime.constraint_cache import tokenizer_hash

    hf = copy.deepcopy(tokenizers[0])
    before = tokenizer_hash(hf)
    hf(["a", "a longer text"], padding=True)
    hf.backend_tokenizer.enable_truncation(8)
    assert tokenizer_hash(hf) == before

"""What more than one benchmark script needs (the scripts run from a checkout: `bench/` is on
sys.path as the running script's folder)."""
from __future__ import annotations

import json
import statistics
import time
from pathlib import Path


def median_ms(fn, repeat: int) -> float:
    """The median wall time of `repeat` calls of fn, in milliseconds."""
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return round(statistics.median(times), 3)


def count_valid(fmt, texts: list[str], sources: list[str]) -> int:
    """How many outputs parse and validate against their own input."""
    from humdsl.formats import FormatParseError

    valid = 0
    for text, source in zip(texts, sources):
        try:
            fmt.parse(text, source=source)
            valid += 1
        except FormatParseError:
            pass
    return valid


def conll_dev(data, n: int, spread: bool = False) -> list[dict]:
    """CoNLL-2003 dev sentences of 6 words or more (not the -DOCSTART- and headline stubs): the
    first n, or n spread evenly over the split (the first ones are mostly cricket scores, where
    county teams are organisations: not typical of the split)."""
    from humdsl.adapters.readers import read_examples

    dev, _ = read_examples(data / "conll2003" / "eng.testa")
    dev = [e for e in dev if len(e["text"].split()) >= 6]
    if not n or n >= len(dev):
        return dev
    return dev[::len(dev) // n][:n] if spread else dev[:n]


RESULTS = Path(__file__).resolve().parent / "results"


def read_run(bench: str, run: str) -> dict:
    """A named run of a benchmark's results file (bench/results/<bench>.json), or {}."""
    path = RESULTS / f"{bench}.json"
    return json.loads(path.read_text(encoding="utf-8")).get("runs", {}).get(run, {}) if path.exists() else {}


def write_run(bench: str, run: str, result: dict) -> Path:
    """Keep `result` as the run `run` of the benchmark's one results file, beside its other runs
    (each made with other options: --run names it)."""
    path = RESULTS / f"{bench}.json"
    data = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    data.setdefault("runs", {})[run] = result
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path


def conll04_answer_model():
    """The Pydantic model a user of a plain Outlines script would write for CoNLL04 relations (a
    list of head, relation, tail), and its conversion to humdsl's relations record."""
    from typing import Literal

    from pydantic import BaseModel, RootModel

    class Rel(BaseModel):
        head: str
        relation: Literal["Work_For", "Kill", "OrgBased_In", "Live_In", "Located_In"]
        tail: str

    class Answer(RootModel[list[Rel]]):
        pass

    def convert(obj) -> dict:
        return {"relations": [{"head": r.head, "type": r.relation, "tail": r.tail} for r in obj.root]}

    return Answer, convert

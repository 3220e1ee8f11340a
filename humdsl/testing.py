"""humc test: a spec's own examples and tests, checked.

Without a model, every example and test is written in every format of its task, read back to the
same record, and accepted by the format's grammar for its input (the checks `humc check` cannot
make: they need the formats built). With a model, each `test` is run as `humc run` runs it (the
same Session, the task's run profile) and its expectation checked: `expect` (exactly this record,
or with `min_f1 X` an item-level F1 of at least X against it), `includes` (at least these items),
`excludes` (none of these items), `one_of` (any of these records); `repeat` runs and a pass rate
for sampled decoding.
"""
from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import HumError, not_found
from .ir_types import TaskIR


class NoTests(HumError):
    """The specs hold no example or test to check (exit 5, as pytest's "no tests collected")."""

    exit_status = 5


@dataclass
class Case:
    """One example or test of a task, where it is written."""
    task: TaskIR  # the task's IR
    spec_dir: Path
    keyword: str  # "example" or "test"
    id: str
    file: str
    line: int
    entry: dict[str, Any]  # an ExampleIR or a TestIR: its output, or its expect / includes / excludes / one_of

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"

    @property
    def name(self) -> str:
        return f"{self.task['name']}/{self.id}"


@dataclass
class Result:
    case: Case
    check: str  # "formats" (no model) or "model"
    passed: bool
    detail: str = ""  # why it failed, or what was checked
    runs: int = 0
    passes: int = 0
    cached: bool = False  # taken from the result cache, not run now
    warnings: list[str] = field(default_factory=list)  # passed, but worth knowing


@dataclass
class Report:
    results: list[Result] = field(default_factory=list)

    @property
    def failed(self) -> list[Result]:
        return [r for r in self.results if not r.passed]


def collect(paths: list[str], task: str | None = None) -> list[Case]:
    """Every example and test of the specs' tasks (of `task` alone when given), with its line."""
    from .api import SpecUnusable, UnknownTask
    from .compiler import check_paths, lower

    result = check_paths(list(paths))
    if not result.ok:
        raise SpecUnusable(f"{', '.join(paths)} has errors:\n{result.errors_text()}")
    irs = lower(result)
    if task is not None and task not in irs:
        raise UnknownTask(not_found("task", task, irs, ", ".join(paths)))
    cases = []
    for model in result.entry_tasks():
        if task is not None and model.name != task:
            continue
        ir = irs[model.name]
        path = Path(model.symbol.module.key)
        lines = {}
        for keyword in ("example", "test"):
            for n, node in enumerate(model.members.get(keyword, []), start=1):
                lines[(keyword, node.name.text if node.name else f"{keyword}-{n}")] = node.span.line
        for keyword, entries in (("example", ir["examples"]), ("test", ir["tests"])):
            for entry in entries:
                cases.append(Case(ir, path.parent, keyword, entry["id"], _shown(path),
                                  lines.get((keyword, entry["id"]), model.decl.span.line), dict(entry)))
    return cases


def _shown(path: Path) -> str:
    """The path as the user would write it: relative to the working folder where it is inside."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


# -- without a model -------------------------------------------------------------------------------
def check_formats(case: Case, verifier) -> Result:
    """The case's record written in every format of its task, read back and accepted by the
    format's grammar for its input. A format that cannot write the record (one without a place
    for part of it) is a warning: prompts in that format leave the example out. A written answer
    its own grammar refuses is a failure: no model could give it."""
    from .constraints import GrammarInvalid
    from .formats import FormatUnfit, InputTooLarge, Unrenderable, build

    whole = case.entry["output"] if "output" in case.entry else case.entry.get("expect")
    records = [whole] if whole is not None else list(case.entry.get("one_of") or [])
    if not records:  # a test of includes / excludes alone has no whole record to write
        return Result(case, "formats", True, "no whole record to write (includes/excludes only)")
    text = case.entry["input"]["text"]
    names, warnings = [], []
    for f in case.task["formats"]:
        fmt = build(case.task, f)
        for record in records:
            try:
                answer = fmt.render(record, source=text)
                problem = verifier.problem(fmt, answer, None, text)
            except (Unrenderable, FormatUnfit) as e:
                warnings.append(f"format '{fmt.name}' cannot write it ({e}): prompts in that format leave it out")
                break
            except GrammarInvalid as e:  # llguidance cannot hold the grammar for this input
                problem = f"its grammar for this input could not be built ({str(e).splitlines()[0]})"
            except InputTooLarge:
                break  # the input is too long for this format's grammar: nothing to hold it to
            if problem:
                return Result(case, "formats", False, f"format '{fmt.name}': {problem}")
        else:
            names.append(fmt.name)
    return Result(case, "formats", True, f"{len(names)} format(s): {', '.join(names)}", warnings=warnings)


# -- with a model ----------------------------------------------------------------------------------
def run_tests(cases: list[Case], model, settings, repeat: int = 1, pass_rate: float = 1.0,
              progress=None, cache: ResultCache | None = None) -> list[Result]:
    """Each test case run `repeat` times through a Session and its expectation checked (`model`: a
    name as humc run takes it, or a server's decoder); a test
    passes when at least `pass_rate` of its runs do. With a cache, a test already run with the
    same task, model, settings and expectation is not run again (and the model not loaded when
    none has to run)."""
    from .runtime.models import load, model_fingerprint
    from .session import Session

    server = model if hasattr(model, "generate") else None  # a server's decoder (runtime/openai_engine.py)
    if cache is None:
        fingerprint = ""
    else:  # a server's weights cannot be seen from here: its URL and model name stand for them
        fingerprint = server.name if server is not None else model_fingerprint(model)
    results: dict[int, Result] = {}
    loaded = None
    by_task: dict[str, list[Case]] = {}
    for case in cases:
        if case.keyword == "test":
            by_task.setdefault(case.task["name"], []).append(case)
    for group in by_task.values():
        session = Session(group[0].task, settings, group[0].spec_dir)
        keys = {id(c): cache.key(c, session.settings, fingerprint, repeat, pass_rate) for c in group} if cache else {}
        todo = []
        for case in group:
            hit = cache.get(keys[id(case)], case) if cache is not None else None
            if hit is not None:
                results[id(case)] = hit
            else:
                todo.append(case)
        if not todo:
            continue
        if server is not None:
            session.use(server)
        else:
            if loaded is None:
                loaded = load(model)
            session.start(loaded)
        rows = [{**case.entry["input"], "id": f"{case.id}#{k}"} for case in todo for k in range(repeat)]
        outcomes = []
        # Each test's runs in a batch of their own: each run samples anew (a decoder seeds once per
        # batch; a server, per row id), and a test's result does not depend on the tests beside
        # it (its cached result is its own).
        for i in range(0, len(rows), repeat):
            outcomes += session.decode(rows[i:i + repeat])
            if progress:
                progress(len(outcomes), len(rows))
        for n, case in enumerate(todo):
            verdicts = [_verdict(session.fmt.schema, case.entry, o) for o in outcomes[n * repeat:(n + 1) * repeat]]
            passes = sum(v is None for v in verdicts)
            ok = passes >= pass_rate * repeat
            why = next((v for v in verdicts if v is not None), "") if not ok else ""
            results[id(case)] = Result(case, "model", ok, why, repeat, passes)
            if cache is not None:
                cache.put(keys[id(case)], results[id(case)])
    return [results[id(c)] for c in cases if id(c) in results]


class ResultCache:
    """Results of tests run on a model, one small file each, under the humc cache folder, keyed
    by everything the answer depends on: the task's IR (its run profile included), the test,
    the model's files, the decoding settings, and humdsl's version."""

    def __init__(self, folder: Path | None = None):
        from .resources import cache_dir

        self.folder = folder or cache_dir() / "test-results"

    def key(self, case: Case, settings, fingerprint: str, repeat: int, pass_rate: float) -> str:
        import hashlib
        from dataclasses import asdict

        from . import __version__
        from .ir import canonical_json, task_hash

        shots = settings.shots_from
        shots_stat = None
        if shots is not None and Path(shots).is_file():
            st = Path(shots).stat()
            shots_stat = [str(Path(shots).resolve()), st.st_size, st.st_mtime_ns]
        what = {"task": task_hash(case.task), "test": case.entry, "model": fingerprint,
                "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(settings).items()},
                "shots": shots_stat, "repeat": repeat, "pass_rate": pass_rate, "humdsl": __version__}
        return hashlib.sha256(canonical_json(what).encode("utf-8")).hexdigest()

    def get(self, key: str, case: Case) -> Result | None:
        try:
            data = json.loads((self.folder / f"{key}.json").read_text(encoding="utf-8"))
            return Result(case, "model", bool(data["passed"]), str(data["detail"]), int(data["runs"]),
                          int(data["passes"]), cached=True)
        except (OSError, ValueError, KeyError, TypeError):
            return None  # not there, or unreadable: run it again

    def put(self, key: str, result: Result) -> None:
        from .outputs import write_atomic

        try:
            write_atomic(self.folder / f"{key}.json", json.dumps(
                {"passed": result.passed, "detail": result.detail, "runs": result.runs, "passes": result.passes}))
        except OSError:
            pass  # a cache that cannot be written costs time, never a result


def _verdict(schema, entry: dict, outcome) -> str | None:
    """None when the answer meets the test's expectation; else what is wrong, briefly."""
    if outcome.record is None:
        return f"no answer: {outcome.error}"
    got = Counter(_items(schema, outcome.record))
    if "expect" in entry:
        want = Counter(_items(schema, entry["expect"]))
        if "min_f1" in entry:  # close enough: item-level F1 against the expected record
            f1 = _f1(want, got)
            if f1 < entry["min_f1"]:
                return f"F1 {f1:.2f} is below {entry['min_f1']:g}: " + _difference(want - got, got - want)
        elif got != want:
            return _difference(want - got, got - want)
    if "one_of" in entry:
        options = [Counter(_items(schema, r)) for r in entry["one_of"]]
        if got not in options:
            shown = " | ".join(", ".join(sorted(o.elements())) or "nothing" for o in options)
            return f"not one of the answers allowed ({shown}): got {', '.join(sorted(got.elements())) or 'nothing'}"
    if "includes" in entry:
        missing = Counter(_items(schema, entry["includes"])) - got
        if missing:
            return _difference(missing, Counter())
    if "excludes" in entry:
        present = [x for x in _items(schema, entry["excludes"]) if x in got]
        if present:
            return _difference(Counter(), Counter(present))
    return None


def _f1(want: Counter, got: Counter) -> float:
    if not want and not got:
        return 1.0
    tp = sum((want & got).values())
    return 2 * tp / (sum(want.values()) + sum(got.values()))


def _items(schema, record: dict) -> list[str]:
    """The record's items in a canonical text each (a record's fields, for the record kind)."""
    try:
        items = schema.to_items(schema.normalise(record))
    except ValueError:  # a user-defined record: its fields are its items
        items = [{k: v} for k, v in record.items() if v is not None]
    return [json.dumps(x, sort_keys=True, ensure_ascii=False) for x in items]


def _difference(missing: Counter, extra: Counter) -> str:
    parts = []
    if missing:
        parts.append("missing " + ", ".join(sorted(missing.elements())))
    if extra:
        parts.append("unexpected " + ", ".join(sorted(extra.elements())))
    return "; ".join(parts)


# -- reports ---------------------------------------------------------------------------------------
def junit(report: Report) -> str:
    """The results as JUnit XML (one test suite per task), for CI systems."""
    import xml.etree.ElementTree as ET

    root = ET.Element("testsuites", name="humc test", tests=str(len(report.results)),
                      failures=str(len(report.failed)))
    suites: dict[str, ET.Element] = {}
    for r in report.results:
        task = r.case.task["name"]
        if task not in suites:
            suites[task] = ET.SubElement(root, "testsuite", name=task)
        case = ET.SubElement(suites[task], "testcase", classname=f"{task}.{r.check}", name=f"{r.case.keyword} {r.case.id}",
                             file=r.case.file, line=str(r.case.line))
        if not r.passed:
            ET.SubElement(case, "failure", message=r.detail).text = f"{r.case.where}: {r.detail}"
        if r.warnings:
            ET.SubElement(case, "system-out").text = "\n".join(f"warning: {w}" for w in r.warnings)
    for task, suite in suites.items():
        mine = [r for r in report.results if r.case.task["name"] == task]
        suite.set("tests", str(len(mine)))
        suite.set("failures", str(sum(not r.passed for r in mine)))
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"

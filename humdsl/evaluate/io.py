"""Reading gold and prediction files for scoring: JSONL lines with an id and a record.

Gold lines are humdsl's canonical dataset lines ({"id", "text", "record"}); prediction lines are
what `humc run` writes ({"id", "record", "raw", ...}, record null when the output did not parse)
or canonical lines. Bad lines are reported with file:line and skipped, never silently.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..jsonl import id_problem, objects
from ..kinds import KINDS

LIST_KEYS = [k.list_key for k in KINDS.values() if k.list_key]  # what merging label batches joins


@dataclass
class Loaded:
    records: dict[str, dict | None] = field(default_factory=dict)  # id -> record (None: unparsed)
    order: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # "file:line: message"
    failures: int = 0  # predictions whose output did not parse
    formats: dict[str, str] = field(default_factory=dict)  # id -> format name (predictions)
    rows: list[tuple[str, dict, dict | None]] = field(default_factory=list)  # (id, line, record)
    skipped: list[str] = field(default_factory=list)  # gold items an adapter left out (read_gold)
    specs: dict[str, dict] = field(default_factory=dict)  # spec hash -> {name, version, hash}, from lines' "spec"


def read(path: str | Path, *, predictions: bool, kind: str | None = None) -> Loaded:
    """The file's records by id. With `kind`, a record of another shape is a problem: a gold
    line is skipped, a prediction counts as one that did not parse."""
    out = Loaded()
    path = Path(path)
    try:
        for where, obj in objects(path, out.problems):
            if "id" not in obj:
                out.problems.append(f"{where}: a line needs an \"id\"")
                continue
            bad_id = id_problem(obj["id"])
            if bad_id:
                out.problems.append(f"{where}: {bad_id}")
                continue
            key = str(obj["id"])
            record = obj.get("record", obj.get("output"))
            if record is not None and not isinstance(record, dict):
                out.problems.append(f"{where}: \"record\" must be an object")
                continue
            if record is None and not predictions:
                out.problems.append(f"{where}: a gold line needs a \"record\"")
                continue
            problem = KINDS[kind].shape_problem(record) if kind and record is not None else None
            if problem:
                out.problems.append(f"{where}: {problem}")
                if not predictions:
                    continue
                record = None
            if record is None:
                out.failures += 1
            out.rows.append((key, obj, record))
            spec = obj.get("spec")
            if isinstance(spec, dict) and isinstance(spec.get("hash"), str):
                out.specs.setdefault(spec["hash"], {k: spec.get(k) for k in ("name", "version", "hash")})
            if "format" in obj:
                out.formats[key] = str(obj["format"])
            if key in out.records:
                if not predictions:
                    out.problems.append(f"{where}: id {key!r} appears twice in the gold file")
                    continue
                out.records[key] = merge(out.records[key], record)  # several label batches
                continue
            out.records[key] = record
            out.order.append(key)
    except OSError as e:
        out.problems.append(f"{path}: cannot read: {e.strerror}")
    return out


def merge(a: dict | None, b: dict | None) -> dict | None:
    """Predictions of one input made in several label batches: their items together."""
    if a is None or b is None:
        return a if b is None else b
    merged = dict(a)
    for key in (k for k in LIST_KEYS if k in b):
        merged[key] = list(a.get(key, [])) + [x for x in b[key] if x not in a.get(key, [])]
    if "labels" in b:
        merged["labels"] = list(dict.fromkeys(list(a.get("labels", [])) + list(b["labels"])))
    return merged


def field_of(line: dict, path: str) -> str:
    """A metadata value of a prediction line, by dotted path: 'format', 'meta.phrasing', ..."""
    value: object = line
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return "(none)" if value is None else str(value)

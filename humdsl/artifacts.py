"""Write compiled artifacts: manifest.json and one IR file per task, byte-identical across runs."""
from __future__ import annotations

from .errors import HumError
import json
from dataclasses import dataclass
import os
import shutil
import tempfile
from pathlib import Path

from . import __version__
from .compiler import CheckResult, lower, spec_hash
from .formats.span_rules import SPAN_RULES
from .kinds import KINDS
from .ir import task_hash
from .outputs import umask, write_atomic
from .ir_types import TaskIR, effect_of


def dump(value) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, indent=2) + "\n"


class ArtifactError(HumError):
    """The artifacts cannot be written where asked: one line for the user."""


def rule_table(task_ir: TaskIR, fmt) -> list[dict]:
    """Each preference rule, how this format keeps it, and why."""
    out = []
    for r in task_ir["rules"]:
        effect = effect_of(r)
        how: str = r["enforced_by"]  # or "decoder": kept by the decoder's state
        note = {"grammar": "the decoding grammar cannot produce an answer that breaks it",
                "parser": "the parser drops repeated items",
                "synthesis": "checked on synthesised gold answers; advice to the model at run time",
                "advisory": "prompt text only"}[how]
        if effect in SPAN_RULES and fmt.span_rules() is not None:
            how, note = "decoder", ("the decoder cannot write an answer that breaks it (humc run's native decoder; "
                                    "with --span-rules parser, --reason or the Outlines path: " + note + ")")
        elif effect in ("ordered", "no_overlap") and fmt.marks_input:
            how, note = "grammar", "the marks follow the input's text, so they keep its order and never overlap"
        elif effect == "no_overlap" and not KINDS[task_ir["kind"]].span_rules:
            how, note = "advisory", "prompt text only: spans are kept apart in entity tasks"
        if effect == "max_items" and fmt.marks_input:
            how, note = "advisory", "inline marks are bounded by the input, not by a count"
        elif effect == "max_items" and fmt.grouped:
            note = "the grammar bounds the list of each label"
        out.append({"id": r["id"], "effect": effect, "enforced_by": how,
                    "kind": "advisory" if how == "advisory" else "enforced", "note": note})
    return out


def write_artifacts(result: CheckResult, spec: str, out_dir: Path) -> dict:
    """Compile into `out_dir` as a whole: everything is written into a new folder beside it that
    then takes its place, so a failure part-way leaves the earlier compile as it was and no task
    folder of an older compile survives. A folder that holds files but no manifest.json is not
    an earlier compile: it is refused, untouched."""
    if out_dir.exists() and not out_dir.is_dir():
        raise ArtifactError(f"-o {out_dir} is a file, not a folder")
    if out_dir.is_dir() and any(out_dir.iterdir()) and not (out_dir / "manifest.json").is_file():
        raise ArtifactError(f"-o {out_dir} holds files that are not a humc compile (no manifest.json): "
                            "give a new or empty folder")
    try:
        out_dir.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=out_dir.parent, prefix=f".{out_dir.name}.", suffix=".partial"))
    except OSError as e:
        raise ArtifactError(f"cannot write into {out_dir.parent}: {e.strerror or e}") from None
    try:
        os.chmod(staging, 0o777 & ~umask())
        manifest = _write_all(result, spec, staging)
        old = None
        if out_dir.exists():
            old = out_dir.with_name(staging.name[:-len(".partial")] + ".old")
            os.replace(out_dir, old)
        os.replace(staging, out_dir)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except OSError as e:
        shutil.rmtree(staging, ignore_errors=True)
        raise ArtifactError(f"cannot write {out_dir}: {e.strerror or e}") from None
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return manifest


@dataclass
class TaskArtifacts:
    """What `humc compile` writes for one task: its files (path in the folder -> text) and its
    manifest entry (which names those files)."""
    files: dict[str, str]
    entry: dict


def task_artifacts(name: str, ir: TaskIR) -> TaskArtifacts:
    """One task's compiled files: its IR and, per format, the prompts, grammar and schema."""
    from . import constraints
    from .formats import build
    from .prompts import PromptChoice, template_artifact

    files: dict[str, str] = {}

    def put(rel: str, text: str) -> str:
        files[rel] = text
        return rel

    put(f"tasks/{name}/ir.json", dump(ir))
    formats = []
    for fmt_ir in ir["formats"]:
        fmt = build(ir, fmt_ir)
        base = f"tasks/{name}/{fmt.name}"
        prompts = [put(f"{base}/prompt-{n + 1}.jinja", template_artifact(ir, fmt, PromptChoice(instruction=n)))
                   for n in range(max(1, len(ir["instructions"])))]
        entry: dict[str, object] = {"name": fmt.name, "id": fmt.id, "shape": fmt.shape, "prompts": prompts,
                                    "rules": rule_table(ir, fmt)}
        if fmt.marks_input:
            entry["grammar"] = None  # built for each input from its text
        else:
            lark = fmt.grammar()
            constraints.validate(lark)  # llguidance fails silently at run time: fail here
            header = ("// humdsl grammar for llguidance (Lark dialect). Built for all labels; at run\n"
                      "// time each input gets its own copy, with label batches and grounded spans.\n")
            entry["grammar"] = put(f"{base}/grammar.lark", header + lark)
            entry["max_bytes_without_input"] = fmt.max_bytes()
        schema = fmt.json_schema()
        entry["schema"] = put(f"{base}/schema.json", dump(schema)) if schema else None
        formats.append(entry)
    return TaskArtifacts(files, {"name": name, "kind": ir["kind"], "version": ir["version"],
                                 "hash": task_hash(ir), "ir": f"tasks/{name}/ir.json", "formats": formats,
                                 "files": {rel: _sha(text) for rel, text in sorted(files.items())}})


def _write_all(result: CheckResult, spec: str, out_dir: Path) -> dict:
    irs = lower(result)
    tasks = []
    for name in sorted(irs):
        compiled = task_artifacts(name, irs[name])
        for rel, text in compiled.files.items():
            write_atomic(out_dir / rel, text)
        tasks.append(compiled.entry)
    manifest = {
        "humdsl": __version__,
        "spec": Path(spec).name,
        "spec_hash": spec_hash(irs),
        "tasks": tasks,
    }
    write_atomic(out_dir / "manifest.json", dump(manifest))
    return manifest


def _sha(text: str) -> str:
    import hashlib

    return hashlib.sha256(text.encode("utf-8")).hexdigest()

"""Write compiled artifacts: manifest.json and one IR file per task, byte-identical across runs."""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from . import __version__
from .compiler import CheckResult, lower, spec_hash
from .ir import content_hash


def dump(value) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, indent=2) + "\n"


def write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_artifacts(result: CheckResult, spec: str, out_dir: Path) -> dict:
    irs = lower(result)
    tasks = []
    for name in sorted(irs):
        ir = irs[name]
        rel = f"tasks/{name}/ir.json"
        text = dump(ir)
        write_atomic(out_dir / rel, text)
        tasks.append({"name": name, "kind": ir["kind"], "version": ir["version"],
                      "hash": content_hash(ir), "files": {"ir": {"path": rel,
                                                                  "sha256": _sha(text)}}})
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

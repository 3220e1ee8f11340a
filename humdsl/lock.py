"""humc.lock: what each spec compiles to, recorded so that a change shows in review.

    humc lock specs examples        # write humc.lock
    humc lock --check               # exit 1 when a spec now compiles to something else

Per spec, task and format the lock holds a hash of each file `humc compile` writes (the IR, the
grammar, each prompt template, the JSON Schema), with the humdsl and standard-library versions,
one line per format: a compiler upgrade or a spec edit that changes a grammar or prompt changes a
line, which a pull request then shows and `--check` catches when the lock was not updated.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from . import __version__
from .errors import HumError

LOCK_NAME = "humc.lock"
HEADER = "# humc.lock: what each spec compiles to. `humc lock` writes it; `humc lock --check` compares."
SHORT = 16  # hex digits kept of each sha256: plenty to tell two compiles apart, short enough to read


class LockError(HumError):
    """A lock that cannot be written or read, or specs that cannot be compiled."""


@dataclass
class SpecLock:
    path: str  # relative to the lock's folder, with forward slashes
    hash: str
    lines: list[str] = field(default_factory=list)  # "task ..." and "format ..." lines, in order


@dataclass
class Lock:
    humdsl: str
    stdlib: str
    specs: dict[str, SpecLock] = field(default_factory=dict)

    def text(self) -> str:
        out = [HEADER, f"humdsl {self.humdsl}", f"stdlib {self.stdlib}"]
        for path in sorted(self.specs):
            spec = self.specs[path]
            out += ["", f"spec {spec.path} {spec.hash}", *spec.lines]
        return "\n".join(out) + "\n"


def _h(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:SHORT]


def stdlib_version() -> str:
    """A hash of the standard library's files: imports of `std/...` compile against it."""
    from .resources import stdlib_root

    root = stdlib_root()
    parts = [f"{p.relative_to(root).as_posix()}\n{p.read_text(encoding='utf-8')}"
             for p in sorted(root.rglob("*.hum"))]
    return _h("\0".join(parts))


def spec_files(paths: list[str]) -> list[Path]:
    from .diagnostics import Diagnostics
    from .loader import collect_paths

    diags = Diagnostics()
    files = collect_paths(paths, diags)
    if diags.items:
        raise LockError(diags.items[0].message)
    return files


def lock_spec(path: Path, root: Path) -> SpecLock:
    """One spec's entry: its tasks, and per format the hashes of what compile writes."""
    from .api import load_checked
    from .artifacts import task_artifacts

    spec = load_checked(path)
    entry = SpecLock(_relative(path, root), spec.hash[:SHORT])
    for name in sorted(spec.tasks):
        ir = spec.tasks[name].ir
        compiled = task_artifacts(name, ir)
        entry.lines.append(f"  task {name} {ir['version']} ir {_h(compiled.files[f'tasks/{name}/ir.json'])}")
        for fmt in compiled.entry["formats"]:
            grammar = _h(compiled.files[fmt["grammar"]]) if fmt["grammar"] else "-"
            prompts = ",".join(_h(compiled.files[p]) for p in fmt["prompts"])
            schema = _h(compiled.files[fmt["schema"]]) if fmt["schema"] else "-"
            entry.lines.append(f"    format {fmt['name']} grammar {grammar} prompts {prompts} schema {schema}")
    return entry


def build_lock(paths: list[str], root: Path) -> Lock:
    lock = Lock(__version__, stdlib_version())
    for path in spec_files(paths):
        entry = lock_spec(path, root)
        lock.specs[entry.path] = entry
    return lock


def read_lock(path: Path) -> Lock:
    """The lock at `path`; LockError where it is missing or not a humc lock."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise LockError(f"no {path}: run `humc lock SPEC...` to write it") from None
    except (OSError, UnicodeDecodeError) as e:
        raise LockError(f"cannot read {path}: {getattr(e, 'strerror', None) or e}") from None
    if not lines or lines[0] != HEADER:
        raise LockError(f"{path} is not a humc lock (its first line is not humc's header)")
    fields = dict(line.split(" ", 1) for line in lines[1:3] if " " in line)
    lock = Lock(fields.get("humdsl", "?"), fields.get("stdlib", "?"))
    current: SpecLock | None = None
    for n, line in enumerate(lines[3:], start=4):
        if not line.strip():
            continue
        if line.startswith("spec "):
            head, _, spec_hash = line[len("spec "):].rpartition(" ")  # a path may hold spaces
            if not head or not spec_hash:
                raise LockError(f"{path}:{n}: a spec line is `spec PATH HASH`")
            current = lock.specs[head] = SpecLock(head, spec_hash)
        elif current is not None and line.startswith(("  task ", "    format ")):
            current.lines.append(line)
        else:
            raise LockError(f"{path}:{n}: not a line of a humc lock: {line.strip()[:60]!r}")
    return lock


def differences(old: Lock, new: Lock) -> list[str]:
    """What changed from `old` to `new`, one line each, naming the spec, task and format."""
    out = []
    if old.humdsl != new.humdsl:
        out.append(f"humdsl {old.humdsl} -> {new.humdsl}")
    if old.stdlib != new.stdlib:
        out.append(f"the standard library changed ({old.stdlib} -> {new.stdlib})")
    for path in sorted(set(old.specs) | set(new.specs)):
        if path not in new.specs:
            out.append(f"{path}: in the lock, not among the specs given")
            continue
        if path not in old.specs:
            out.append(f"{path}: not in the lock")
            continue
        a, b = _keyed(old.specs[path].lines), _keyed(new.specs[path].lines)
        for key in [*a, *(k for k in b if k not in a)]:
            if key not in b:
                out.append(f"{path}: {key} is gone")
            elif key not in a:
                out.append(f"{path}: {key} is new")
            elif a[key] != b[key]:
                changed = [f"{name} {x} -> {y}" for name, x, y in _pairs(a[key], b[key]) if x != y]
                out.append(f"{path}: {key}: {', '.join(changed)}")
    return out


def _keyed(lines: list[str]) -> dict[str, list[str]]:
    """Each line under its task (and format) name: `task T` or `task T format F` -> its words."""
    out, task = {}, ""
    for line in lines:
        words = line.split()
        if words[0] == "task":
            task = f"task {words[1]}"
            out[task] = words[2:]
        else:
            out[f"{task} format {words[1]}"] = words[2:]
    return out


def _pairs(a: list[str], b: list[str]) -> list[tuple[str, str, str]]:
    """(what, old, new) for the fields of two lines of the same shape: `1.0.0 ir H` or
    `grammar H prompts H,H schema H`."""
    if a and a[0] not in ("grammar",) and len(a) == 3:  # a task line: version ir HASH
        a, b = ["version", a[0], *a[1:]], ["version", b[0], *b[1:]] if len(b) == 3 else b
    names = {a[i]: a[i + 1] for i in range(0, len(a) - 1, 2)}
    other = {b[i]: b[i + 1] for i in range(0, len(b) - 1, 2)}
    return [(k, names.get(k, "-"), other.get(k, "-")) for k in dict.fromkeys([*names, *other])]


def _relative(path: Path, root: Path) -> str:
    """The spec's path from the lock's folder (with ../ where it is outside), so that the lock
    works in every checkout."""
    import os

    return Path(os.path.relpath(path.resolve(), root.resolve())).as_posix()

"""humc diff: what changed between two versions of a spec, each change classed by what it breaks.

- breaking: records written under the old spec may no longer fit (a label, field, input or
  format removed, a format's shape or the kind changed, a rule newly enforced or tightened);
- dangerous: the records still fit, but what the model is asked changed, so corpora and scores
  made before are stale (an instruction, guideline or description reworded, an example changed);
- safe: nothing made before goes stale (a label, format or paraphrase added, tests changed).

The comparison is of the compiled IR, so layout and comments never count; a label renamed without
being declared a rename is a removal (breaking) and an addition (safe).
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from .errors import HumError
from .ir import slot_place
from .ir_types import TaskIR
from .prompts import answer_name, shown_name

SEVERITIES = ("breaking", "dangerous", "safe")
BUMP_FOR = {"breaking": "major", "dangerous": "minor", "safe": "patch"}
ORDER = {"none": 0, "patch": 1, "minor": 2, "major": 3}


class DiffError(HumError):
    """Specs that cannot be compared: unreadable, with errors, or a revision git does not know."""


@dataclass(frozen=True)
class Change:
    severity: str  # breaking | dangerous | safe; "version" for a --check-version problem
    task: str
    what: str  # the part: "label MISC", "guideline longest", "format tuples", ...
    message: str
    file: str = ""
    line: int = 0
    added: bool = False  # something new (a minor bump under --check-version, even when safe)
    bumps: bool = True  # False: nothing the task makes changes (a proposal added or rejected), no bump

    def text(self) -> str:
        where = f"{self.file}:{self.line}: " if self.file else ""
        return f"{where}{self.severity}: task {self.task}: {self.message}"


@dataclass
class Side:
    """One version of some spec files: their tasks' IR, the file of each, and the line of each part."""
    irs: dict[str, TaskIR]
    files: dict[str, str]  # task -> the file it is declared in, as shown
    lines: dict[tuple[str, str], int]  # (task, part) -> line, part "" for the task itself

    def merge(self, other: "Side") -> None:
        """Another file's tasks into this side (tasks are compared by name, whichever file holds
        them, so that moving a spec keeps its tasks' changes); DiffError for a name in two files."""
        for name in other.irs:
            if name in self.irs:
                raise DiffError(f"task '{name}' is declared in both {self.files[name]} and {other.files[name]}: "
                                f"compare those files one at a time")
        self.irs.update(other.irs)
        self.files.update(other.files)
        self.lines.update(other.lines)


def load_side(path: Path | None, shown: str) -> Side:
    """A spec version; an absent file is a spec with no task (all added, or all removed)."""
    if path is None or not path.exists():
        return Side({}, {}, {})
    from .compiler import check_paths, lower

    result = check_paths([path])
    if not result.ok:
        raise DiffError(f"{shown} has errors:\n{result.errors_text()}")
    lines: dict[tuple[str, str], int] = {}
    for model in result.entry_tasks():
        lines[(model.name, "")] = model.decl.span.line
        for keyword, nodes in model.members.items():
            for node in nodes:
                name = getattr(node, "name", None)
                part = f"{keyword} {name.text}" if name is not None and hasattr(name, "text") else keyword
                lines.setdefault((model.name, part), node.span.line)
                lines.setdefault((model.name, keyword), node.span.line)
    irs = lower(result)
    return Side(irs, {name: shown for name in irs}, lines)


def diff_sides(old: Side, new: Side) -> list[Change]:
    changes: list[Change] = []
    for name in sorted(set(old.irs) | set(new.irs)):
        if name not in new.irs:
            changes.append(_at(old, name, "", Change("breaking", name, "task", "task removed: records and runs made with it have no spec")))
        elif name not in old.irs:
            changes.append(_at(new, name, "", Change("safe", name, "task", "task added", added=True)))
        else:
            if old.files[name] != new.files[name]:
                changes.append(_at(new, name, "", Change("safe", name, "task", f"task moved from {old.files[name]}")))
            # compared as the JSON documents they are: either side may be an older IR
            pairs = _task_changes(name, dict(old.irs[name]), dict(new.irs[name]))
            changes += [_at(new, name, part, c) for part, c in pairs]
    return changes


def _at(side: Side, task: str, part: str, change: Change) -> Change:
    line = side.lines.get((task, part)) or side.lines.get((task, part.split(" ")[0])) or side.lines.get((task, ""), 0)
    return replace(change, file=side.files.get(task, ""), line=line)


def _task_changes(task: str, a: dict, b: dict) -> list[tuple[str, Change]]:
    out: list[tuple[str, Change]] = []

    def add(severity: str, part: str, what: str, message: str, added: bool = False, bumps: bool = True) -> None:
        out.append((part, Change(severity, task, what, message, added=added, bumps=bumps)))

    if a["kind"] != b["kind"]:
        add("breaking", "", "kind", f"kind {a['kind']} -> {b['kind']}: no record of the old kind fits")
    if bool(a.get("multilabel")) != bool(b.get("multilabel")):
        add("breaking", "labels", "multilabel", "labels per answer changed (one / several): records no longer fit")
    if a.get("about") != b.get("about"):
        add("dangerous", "about", "about", "'about' changed: the prompt says something else")
    if a.get("answer") != b.get("answer"):
        add("dangerous", "answer", "answer", f"the answer is now shown as {answer_name(b)!r} (was "
            f"{answer_name(a)!r}): the prompts name it differently")
    names = _writes_names(b)
    _named(add, "labels", "label", a.get("labels") or [], b.get("labels") or [], key="code", writes_names=names)
    _named(add, "labels", "type", a.get("types") or [], b.get("types") or [], key="code", writes_names=names)
    _named(add, "labels", "role", a.get("roles") or [], b.get("roles") or [], key="code", writes_names=names)
    _named(add, "input", "input", a.get("inputs") or [], b.get("inputs") or [], key="name")
    _fields(add, a.get("fields") or [], b.get("fields") or [])
    _paraphrases(add, "instruction", "instruction", "the instruction", a.get("instructions") or [],
                 b.get("instructions") or [])
    _guidelines(add, a.get("guidelines") or [], b.get("guidelines") or [])
    _rules(add, a.get("rules") or [], b.get("rules") or [])
    _formats(add, a.get("formats") or [], b.get("formats") or [])
    _entries(add, "example", a.get("examples") or [], b.get("examples") or [], "dangerous",
             "the prompts show the examples")
    _entries(add, "test", a.get("tests") or [], b.get("tests") or [], "safe", "")
    _proposals(add, a, b)
    new_approvals = [x for x in b.get("approvals", []) if x not in a.get("approvals", [])]
    for approval in new_approvals:
        add("safe", "approve", "approval", f"changes at {approval['version']} approved: {approval['reason']}")
    for key, what in (("synth", "synthesis settings"), ("run", "run profile"), ("similar", "similar labels")):
        if (a.get(key) or None) != (b.get(key) or None):
            add("dangerous", key if key != "similar" else "similar", key,
                f"{what} changed: corpora or runs made before were made otherwise")
    return out


def _named(add, part: str, noun: str, old: list[dict], new: list[dict], key: str, writes_names: bool = False) -> None:
    """Labels, types, roles, inputs: by code (or name); a declared rename (renamed_from) as one.
    `writes_names`: a format of the task writes these labels' natural names into its answers."""
    a, b = {x[key]: x for x in old}, {x[key]: x for x in new}
    _reordered(add, part, noun, list(a), list(b), f"prompts, grammars and formats keyed by {noun} list them in order")
    renamed = {was: k for k, x in b.items() if k not in a for was in x.get("renamed_from") or [] if was in a
               and was not in b}
    for k in a:
        if k in renamed:
            add("breaking", part, f"{noun} {renamed[k]}", f"{noun} {k} renamed to {renamed[k]}: records that hold "
                f"{k} need the new code")
            _paraphrases(add, part, f"{noun} {renamed[k]}", f"the description of {noun} {renamed[k]}",
                         a[k].get("descriptions") or [], b[renamed[k]].get("descriptions") or [])
        elif k not in b:
            add("breaking", part, f"{noun} {k}", f"{noun} {k} removed: records that hold it no longer fit")
    for k in b:
        if k in renamed.values():
            continue
        if k not in a:
            severity = "breaking" if noun == "input" else "safe"
            why = "old inputs lack it" if noun == "input" else "old records still fit"
            add(severity, part, f"{noun} {k}", f"{noun} {k} added ({why})", added=True)
            continue
        x, y = a[k], b[k]
        if x.get("name") != y.get("name"):
            if writes_names:
                add("breaking", part, f"{noun} {k}", f"{noun} {k} is now written {y.get('name')!r} (was "
                    f"{x.get('name')!r}): answers of the formats that write names no longer parse")
            else:
                add("dangerous", part, f"{noun} {k}", f"{noun} {k} is now shown as {y.get('name')!r} "
                    f"(was {x.get('name')!r})")
        _paraphrases(add, part, f"{noun} {k}", f"the description of {noun} {k}", x.get("descriptions") or [],
                     y.get("descriptions") or [])
        if x.get("shown") != y.get("shown"):
            was, now = shown_name(x), shown_name(y)
            add("dangerous", part, f"{noun} {k}", f"{noun} {k} is now shown as {now!r} (was {was!r}): the prompts "
                f"name it differently")
        for extra in ("head", "tail", "roles"):
            if x.get(extra) != y.get(extra):
                add("breaking", part, f"{noun} {k}", f"{noun} {k}: its {extra} changed: records may no longer fit")


def _writes_names(task: dict) -> bool:
    """Does a format of the task write labels by their natural names (a `{type.name}` hole)?"""
    return any(".name" in json.dumps(f.get("decl", {})) for f in task.get("formats") or [])


def _reordered(add, part: str, noun: str, old: list, new: list, why: str = "prompts show them in order") -> None:
    common = [k for k in old if k in new]
    if common != [k for k in new if k in old]:
        add("dangerous", part, f"{noun}s", f"the order of the {noun}s changed ({why})")


def _paraphrases(add, part: str, what: str, subject: str, old: list[str], new: list[str]) -> None:
    """A text and its alternative phrasings: the first is what prompts show by default."""
    if old == new:
        return
    if old[:1] != new[:1]:
        add("dangerous", part, what, f"{subject} changed")
    elif set(old) <= set(new):
        n = len(set(new) - set(old))
        add("safe", part, what, f"{subject}: {n} paraphrase{'s' * (n != 1)} added", added=True)
    else:
        add("dangerous", part, what, f"{subject}: paraphrases removed or changed")


def _proposals(add, a: dict, b: dict) -> None:
    """Proposed alternatives are not used until accepted: adding or settling them is safe and asks
    no version bump. An accepted one shows up again as a paraphrase added (with its bump)."""
    old, new = a.get("proposed") or [], b.get("proposed") or []
    added = [p for p in new if p not in old]
    settled = [p for p in old if p not in new]
    if added:
        n = len(added)
        add("safe", added[0]["slot"], "proposals", f"{n} proposal{'s' * (n != 1)} added (not used until accepted)",
            bumps=False)
    if settled:
        accepted = sum(p["text"] in _slot_texts(b, p["slot"]) for p in settled)
        n = len(settled)
        # an accepted one is also a paraphrase added, which asks its own bump
        add("safe", settled[0]["slot"], "proposals", f"{n} proposal{'s' * (n != 1)} settled "
            f"({accepted} accepted, {n - accepted} rejected)", bumps=False)


def _slot_texts(task: dict, slot: str) -> list[str]:
    """The texts a task's IR holds for a proposal's slot ("guideline NAME", "label CODE", ...)."""
    place = slot_place(task, slot)
    return (place[0].get(place[1]) or []) if place else []


def _fields(add, old: list[dict], new: list[dict]) -> None:
    a, b = {f["name"]: f for f in old}, {f["name"]: f for f in new}
    for k in a:
        if k not in b:
            add("breaking", "fields", f"field {k}", f"field {k} removed: records that hold it no longer fit")
    for k in b:
        if k not in a:
            add("breaking", "fields", f"field {k}", f"field {k} added: records written before lack it", added=True)
        elif a[k].get("type") != b[k].get("type"):
            add("breaking", "fields", f"field {k}", f"field {k}: its type changed")
        elif a[k].get("descriptions") != b[k].get("descriptions"):
            _paraphrases(add, "fields", f"field {k}", f"the description of field {k}", a[k].get("descriptions") or [],
                         b[k].get("descriptions") or [])


def _guidelines(add, old: list[dict], new: list[dict]) -> None:
    a, b = {g["id"]: g for g in old}, {g["id"]: g for g in new}
    _reordered(add, "guideline", "guideline", list(a), list(b))
    for k in a:
        if k not in b:
            add("dangerous", f"guideline {k}", f"guideline {k}", f"guideline {k} removed")
    for k in b:
        part = f"guideline {k}"
        if k not in a:
            add("dangerous", part, part, f"guideline {k} added: the model is asked something new", added=True)
            continue
        if a[k].get("scope") != b[k].get("scope"):
            add("dangerous", part, part, f"guideline {k}: the labels it is for changed")
        _paraphrases(add, part, part, f"the text of guideline {k}", a[k].get("texts") or [], b[k].get("texts") or [])


def _rules(add, old: list[dict], new: list[dict]) -> None:
    a, b = {r["id"]: r for r in old}, {r["id"]: r for r in new}
    _reordered(add, "prefer", "rule", list(a), list(b))
    enforced = ("grammar", "parser")
    for k in a:
        if k not in b:
            add("dangerous", "prefer", f"rule {a[k]['name']}", f"rule {a[k]['name']} removed")
    for k in b:
        name = b[k]["name"]
        if k not in a:
            if b[k]["enforced_by"] in enforced:
                add("breaking", "prefer", f"rule {name}", f"rule {name} added and enforced by the "
                    f"{b[k]['enforced_by']}: records that break it no longer fit", added=True)
            else:
                add("dangerous", "prefer", f"rule {name}", f"rule {name} added", added=True)
            continue
        if a[k].get("effect") != b[k].get("effect") or a[k]["enforced_by"] != b[k]["enforced_by"]:
            severity = "breaking" if b[k]["enforced_by"] in enforced and not _loosened(a[k], b[k]) else "dangerous"
            add(severity, "prefer", f"rule {name}", f"rule {name}: what it enforces changed "
                f"({json.dumps((a[k].get('effect') or {}).get('args'))} -> "
                f"{json.dumps((b[k].get('effect') or {}).get('args'))})")
        _paraphrases(add, "prefer", f"rule {name}", f"the text of rule {name}", a[k].get("texts") or [],
                     b[k].get("texts") or [])


def _loosened(a: dict, b: dict) -> bool:
    """A bound raised (max_items(3) -> max_items(5)): what fitted before still fits."""
    ea, eb = a.get("effect") or {}, b.get("effect") or {}
    if ea.get("name") != eb.get("name") or not str(eb.get("name", "")).startswith("max_"):
        return False
    x, y = ea.get("args") or {}, eb.get("args") or {}
    return x.keys() == y.keys() and all(isinstance(y[k], (int, float)) and isinstance(x[k], (int, float))
                                        and y[k] >= x[k] for k in x)


def _formats(add, old: list[dict], new: list[dict]) -> None:
    a, b = {f["name"]: f for f in old}, {f["name"]: f for f in new}
    for k in a:
        if k not in b:
            add("breaking", "formats", f"format {k}", f"format {k} removed: answers written in it are no longer read")
    for k in b:
        if k not in a:
            add("safe", "formats", f"format {k}", f"format {k} added", added=True)
        elif {x: v for x, v in a[k]["decl"].items() if x != "describe"} != \
                {x: v for x, v in b[k]["decl"].items() if x != "describe"}:
            add("breaking", "formats", f"format {k}", f"format {k}: its shape changed: answers written in the "
                "old shape may no longer parse")
        elif a[k]["decl"].get("describe") != b[k]["decl"].get("describe"):
            add("dangerous", "formats", f"format {k}", f"format {k}: its description in the prompt changed")
    if [f["name"] for f in old][:1] != [f["name"] for f in new][:1] and old and new and new[0]["name"] in a:
        add("dangerous", "formats", "formats", f"the default format is now {new[0]['name']} "
            f"(was {old[0]['name']})")


def _entries(add, noun: str, old: list[dict], new: list[dict], severity: str, why: str) -> None:
    a, b = {e["id"]: e for e in old}, {e["id"]: e for e in new}
    if severity == "dangerous":  # examples: prompts show them in order
        _reordered(add, noun, noun, list(a), list(b))
    tail = f" ({why})" if why else ""
    for k in a:
        if k not in b:
            add(severity, noun, f"{noun} {k}", f"{noun} {k} removed{tail}")
    for k in b:
        if k not in a:  # a test added asks no more than a patch: nothing made before goes stale
            add(severity, f"{noun} {k}", f"{noun} {k}", f"{noun} {k} added{tail}", added=severity != "safe")
        elif a[k] != b[k]:
            add(severity, f"{noun} {k}", f"{noun} {k}", f"{noun} {k} changed{tail}")


# -- versions --------------------------------------------------------------------------------------
def required_bump(changes: list[Change]) -> str:
    """The semver bump the changes of one task call for: major, minor, patch or none."""
    need = "none"
    for c in changes:
        if not c.bumps:
            continue
        level = "minor" if c.added and c.severity == "safe" else BUMP_FOR[c.severity]
        if ORDER[level] > ORDER[need]:
            need = level
    return need


def _precedence(version: str) -> tuple | None:
    """Semantic versioning's order of versions (build metadata ignored), or None where it is not one."""
    from .semantic.tasks import SEMVER

    m = SEMVER.match(version)
    if not m:
        return None
    pre = m.group(4)
    parts = tuple((0, int(x), "") if x.isdigit() else (1, 0, x) for x in pre.split(".")) if pre else ()
    return (int(m.group(1)), int(m.group(2)), int(m.group(3))), (0 if pre else 1, parts)


def actual_bump(old: str, new: str) -> str | None:
    """The bump from `old` to `new` (none where equal), or None where either is not a semantic
    version or the version went down. A change to or between pre-releases of the same version is
    a "pre-release" bump: they promise nothing, so any increase will do."""
    a, b = _precedence(old), _precedence(new)
    if a is None or b is None or b < a:
        return None
    if b[0][0] > a[0][0]:
        return "major"
    if b[0][1] > a[0][1]:
        return "minor"
    if b[0][2] > a[0][2]:
        return "patch"
    return "none" if b == a else "pre-release"


def version_problems(old: Side, new: Side, changes: list[Change]) -> list[Change]:
    """Per task whose changes call for a bigger version bump than it got, a "version" change
    saying so (at the task's version line)."""
    out = []
    for name in sorted(set(old.irs) & set(new.irs)):
        mine = [c for c in changes if c.task == name]
        need = required_bump(mine)
        was, now = old.irs[name]["version"], new.irs[name]["version"]
        got = actual_bump(was, now)
        approved = any(a["version"] == now for a in new.irs[name].get("approvals", []))
        if got is None:
            problem = f"version {was} -> {now} is not a semver increase"
        elif approved and got != "none":
            continue  # the spec says these changes are intended at this version
        elif got == "pre-release":
            continue  # pre-releases promise nothing: any increase will do
        elif got != "pre-release" and ORDER[got] < ORDER[need]:
            bumped = f"{was} was not bumped" if got == "none" else f"{was} -> {now} is a {got} bump"
            problem = f"version {bumped}; these changes need a {need} bump"
        else:
            continue
        out.append(_at(new, name, "version", Change("version", name, "version", problem)))
    return out


def as_json(changes: list[Change]) -> str:
    return json.dumps([asdict(c) for c in changes], indent=2, ensure_ascii=False)


def github(changes: list[Change]) -> str:
    """GitHub Actions workflow commands: each change annotates its line in the pull request."""
    level = {"breaking": "error", "version": "error", "dangerous": "warning", "safe": "notice"}
    return "".join(f"::{level[c.severity]} file={_prop(c.file)},line={c.line},title=humc diff: {c.severity}::"
                   f"{_data(f'task {c.task}: {c.message}')}\n" for c in changes)


def _data(text: str) -> str:
    """A workflow command's message, escaped as GitHub asks: spec text cannot start a command."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _prop(text: str) -> str:
    return _data(text).replace(":", "%3A").replace(",", "%2C")

"""humc diff: the semantic changes between two versions of specs, each classed breaking,
dangerous or safe (diff.py), from two files or folders or from git revisions."""
from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import click


@click.command(name="diff")
@click.argument("paths", nargs=-1, type=click.Path())
@click.option("--against", "rev", help="Compare the specs at PATHS (default: the current folder) with this git "
              "revision of them, e.g. main or HEAD~1.")
@click.option("--to", "rev2", help="With --against: the newer revision (default: the working tree).")
@click.option("--json", "as_json", is_flag=True, help="Print the changes as JSON.")
@click.option("--github", is_flag=True, help="Print GitHub Actions annotations (error, warning, notice per change).")
@click.option("--check-version", is_flag=True, help="Exit 1 when a task's version was not bumped as semver asks: "
              "major for a breaking change, minor for a dangerous one or an addition, patch for a safe one.")
@click.option("--fail-on", type=click.Choice(["breaking", "dangerous"]),
              help="Exit 1 when there is a change this severe (dangerous: or breaking).")
def diff_cmd(paths, rev, rev2, as_json, github, check_version, fail_on) -> None:
    """Compare specs: `humc diff OLD NEW` (two files or two folders), or `humc diff --against REV
    [PATH...]` (git). Each change of labels, descriptions, guidelines, rules, instructions, formats,
    examples and tests is classed: breaking (records made before may no longer fit), dangerous
    (they fit, but what the model is asked changed) or safe."""
    from ..diff import Change, DiffError, Side, load_side, version_problems
    from ..diff import as_json as to_json
    from ..diff import diff_sides
    from ..diff import github as to_github
    from .common import usage_error

    if rev2 and not rev:
        usage_error("--to goes with --against")
    old, new = Side({}, {}, {}), Side({}, {}, {})
    with tempfile.TemporaryDirectory(prefix="humc-diff-") as tmp:
        if rev:
            pairs = _revision_pairs(list(paths) or ["."], rev, rev2, Path(tmp))
        else:
            if len(paths) != 2:
                usage_error("give two files or folders to compare (OLD NEW), or --against REV")
            pairs = _path_pairs(Path(paths[0]), Path(paths[1]))
        # Every file of each side first, then tasks compared by name: a spec moved to another
        # file keeps its tasks' changes.
        for old_path, new_path, shown in pairs:
            try:
                old.merge(load_side(old_path, shown))
            except DiffError as e:
                if not str(e).startswith(shown):
                    raise
                # a spec that had errors then cannot be compared; one with errors now is an error
                click.echo(f"humc: warning: {shown} had errors in {rev or paths[0]}: its tasks there are "
                           f"not compared (they count as added)", err=True)
            new.merge(load_side(new_path, shown))
        changes: list[Change] = diff_sides(old, new)
        problems: list[Change] = version_problems(old, new, changes) if check_version else []
    ordered = sorted(changes, key=lambda c: (c.file, c.line, c.task))
    if as_json:
        click.echo(to_json(ordered + problems))
    elif github:
        click.echo(to_github(ordered + problems), nl=False)
    else:
        for c in ordered + problems:
            click.echo(c.text())
    counts = {s: sum(c.severity == s for c in changes) for s in ("breaking", "dangerous", "safe")}
    click.echo(f"{len(changes)} change{'s' * (len(changes) != 1)}: " + ", ".join(f"{n} {s}" for s, n in counts.items())
               + (f"; {len(problems)} version problem{'s' * (len(problems) != 1)}" if check_version else ""),
               err=True)
    failing = {"breaking": ("breaking",), "dangerous": ("breaking", "dangerous")}.get(fail_on or "", ())
    sys.exit(1 if problems or any(c.severity in failing for c in changes) else 0)


def _path_pairs(old: Path, new: Path) -> list[tuple[Path | None, Path | None, str]]:
    from ..errors import UsageError

    for p in (old, new):
        if not p.exists():
            raise UsageError(f"no such file or folder: {p}")
    if old.is_dir() != new.is_dir():
        raise UsageError("compare a file with a file, or a folder with a folder")
    if not old.is_dir():
        return [(old, new, str(new))]
    return _folder_pairs(old, new, new)


def _folder_pairs(old: Path, new: Path, shown_root: Path) -> list[tuple[Path | None, Path | None, str]]:
    rel = sorted({p.relative_to(old) for p in old.rglob("*.hum")} | {p.relative_to(new) for p in new.rglob("*.hum")})
    return [((old / r) if (old / r).exists() else None, (new / r) if (new / r).exists() else None,
             str((shown_root if (new / r).exists() else old) / r)) for r in rel]


def _revision_pairs(paths: list[str], rev: str, rev2: str | None, tmp: Path):
    from ..errors import UsageError
    from ..gitrev import GitError, export, repo_root, tracked_specs

    root = repo_root(Path(paths[0]))
    export(root, rev, tmp / "old")
    if rev2:
        export(root, rev2, tmp / "new")
    pairs = []
    for given in paths:
        target = Path(given).resolve()
        try:
            rel = target.relative_to(root.resolve())
        except ValueError:
            raise GitError(f"{given} is not in the repository at {root}") from None
        old_at = tmp / "old" / rel
        new_at = (tmp / "new" / rel) if rev2 else target
        if not old_at.exists() and not new_at.exists():
            raise UsageError(f"{given} is in neither {rev} nor {rev2 or 'the working tree'}")
        if old_at.is_file() or new_at.is_file() or given.endswith(".hum"):
            pairs.append((old_at if old_at.exists() else None, new_at if new_at.exists() else None, given))
            continue
        old_files = {p.relative_to(old_at) for p in old_at.rglob("*.hum")} if old_at.is_dir() else set()
        if rev2:
            new_files = {p.relative_to(new_at) for p in new_at.rglob("*.hum")} if new_at.is_dir() else set()
        else:
            new_files = {p.relative_to(target) for p in tracked_specs(root, target)} if target.is_dir() else set()
        for r in sorted(old_files | new_files):
            pairs.append(((old_at / r) if r in old_files else None, (new_at / r) if r in new_files else None,
                          str(Path(given) / r)))
    return pairs

"""humc lock: record what each spec compiles to in humc.lock, or check that it still does."""
from __future__ import annotations

import sys
from pathlib import Path

import click


@click.command(name="lock")
@click.argument("paths", nargs=-1, type=click.Path())
@click.option("--lock", "lock_path", default="humc.lock", show_default=True, type=click.Path(dir_okay=False),
              help="The lock file; spec paths in it are relative to its folder.")
@click.option("--check", "check_only", is_flag=True,
              help="Write nothing; exit 1 when a spec compiles to something else than the lock records.")
def lock_cmd(paths, lock_path, check_only) -> None:
    """Write humc.lock: per spec, task and format, hashes of the IR, grammar, prompts and schema
    `humc compile` would write, and the humdsl and standard-library versions. Without PATHS, the
    specs the lock already lists."""
    from ..lock import LockError, build_lock, differences, read_lock
    from ..outputs import write_atomic

    lock_file = Path(lock_path)
    root = lock_file.parent
    old = read_lock(lock_file) if (check_only or lock_file.exists()) else None
    if not paths:
        if old is None:
            raise LockError("give the specs to lock (files or folders), e.g. humc lock specs")
        paths = tuple(str(root / p) for p in old.specs)
    new = build_lock(list(paths), root)
    if check_only:
        assert old is not None
        changes = differences(old, new)
        for change in changes:
            click.echo(f"{lock_file}: {change}", err=True)
        if changes:
            click.echo(f"humc: {lock_file} is out of date ({len(changes)} change{'s' * (len(changes) != 1)}): "
                       f"run `humc lock` and commit it", err=True)
            sys.exit(1)
        click.echo(f"{lock_file} is up to date ({len(new.specs)} spec{'s' * (len(new.specs) != 1)})", err=True)
        return
    write_atomic(lock_file, new.text())
    changes = differences(old, new) if old is not None else []
    tail = f"; {len(changes)} change{'s' * (len(changes) != 1)}" if old is not None else ""
    click.echo(f"wrote {lock_file} ({len(new.specs)} spec{'s' * (len(new.specs) != 1)}{tail})", err=True)
    for change in changes:
        click.echo(f"  {change}", err=True)

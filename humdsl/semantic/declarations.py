"""Passes over declarations and imports: duplicates, aliases, unused imports."""
from __future__ import annotations

from pathlib import PurePosixPath

from .. import codes
from ..diagnostics import did_you_mean
from ..syntax import ast
from .context import Context, Symbol

DECL_TYPES = (ast.Task, ast.FormatDecl, ast.RuleDecl, ast.LabelSetDecl, ast.Corpus)


def declare_names(ctx: Context) -> None:
    """One namespace per file for tasks, formats, rules and label sets."""
    for module in ctx.modules():
        table: dict[str, Symbol] = {}
        for decl in module.tree.decls:
            if not isinstance(decl, DECL_TYPES):
                continue
            name = decl.name.text
            if name in table:
                first = table[name]
                ctx.error(codes.DUPLICATE_DECL, f"'{name}' is already declared in this file",
                          decl.name.span,
                          notes=[f"first declared as a {first.what} at line {first.decl.name.span.line}"])
                continue
            table[name] = Symbol(name, decl, module)
        ctx.namespaces[module.key] = table


def check_imports(ctx: Context) -> None:
    for module in ctx.modules():
        aliases: dict[str, str] = {}
        froms: dict[str, Symbol] = {}
        own = ctx.namespaces.get(module.key, {})
        for decl, target in module.imports:
            if isinstance(decl, ast.Import):
                alias = decl.alias.text if decl.alias else PurePosixPath(decl.path.value).stem
                span = decl.alias.span if decl.alias else decl.path.span
                if alias in aliases:
                    ctx.dead_imports.add(id(decl))
                    ctx.error(codes.DUPLICATE_ALIAS, f"the alias '{alias}' is used by two imports", span,
                              notes=["give one of them another name with 'as'"])
                    continue
                if target is not None:
                    aliases[alias] = target
                    ctx.alias_decl[(module.key, alias)] = decl
            else:
                if target is None:
                    continue
                table = ctx.namespaces.get(target, {})
                for name in decl.names:
                    sym = table.get(name.text)
                    if sym is None:
                        ctx.error(codes.UNKNOWN_NAME,
                                  f"'{decl.path.value}' declares no '{name.text}'", name.span,
                                  suggestions=did_you_mean(name.text, table))
                    elif name.text in own:
                        ctx.error(codes.DUPLICATE_DECL,
                                  f"'{name.text}' is imported and also declared in this file", name.span)
                    elif name.text in froms:
                        ctx.error(codes.DUPLICATE_DECL, f"'{name.text}' is imported twice", name.span)
                    else:
                        froms[name.text] = sym
                        ctx.from_decl[(module.key, name.text)] = decl
        ctx.aliases[module.key] = aliases
        ctx.from_names[module.key] = froms


def report_unused_imports(ctx: Context) -> None:
    entries = set(ctx.program.entries)
    for module in ctx.modules():
        if module.key not in entries:
            continue
        for decl, target in module.imports:
            if target is not None and id(decl) not in ctx.used_imports \
                    and id(decl) not in ctx.program.cycle_imports and id(decl) not in ctx.dead_imports:
                ctx.error(codes.UNUSED_IMPORT, f"'{decl.path.value}' is imported but not used", decl.span)

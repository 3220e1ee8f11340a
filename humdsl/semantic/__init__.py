"""Semantic analysis: an ordered list of passes, each a plain function adding diagnostics.

Passes run in order over one Context; later passes read what earlier ones resolved (the
TaskModel of every task). No pass raises on bad input: it reports and moves on.
"""
from __future__ import annotations

from ..loader import Program
from .context import Context
from .corpus import check_corpora
from .declarations import check_imports, declare_names, report_unused_imports
from .examples import check_examples
from .fields import check_fields
from .formats import check_format_decls, check_format_fit, resolve_task_formats
from .labels import check_guidelines, check_label_sets, check_similar, resolve_labels
from .rules import check_rule_decls, resolve_prefers
from .synth import check_synth
from .run_profile import check_run_profile
from .tasks import advise, build_tasks

PASSES = [
    declare_names,
    check_imports,
    check_label_sets,
    build_tasks,
    resolve_labels,
    check_guidelines,
    check_similar,
    check_rule_decls,
    resolve_prefers,
    check_format_decls,
    resolve_task_formats,
    check_fields,
    check_examples,
    check_synth,
    check_run_profile,
    check_corpora,
    check_format_fit,
    advise,
    report_unused_imports,
]


def analyse(program: Program, with_proposed: bool = False) -> Context:
    """with_proposed: the alternatives written `proposed` are used like the others."""
    ctx = Context(program, with_proposed)
    for run_pass in PASSES:
        run_pass(ctx)
    return ctx

"""The synthesis report: what the corpus holds, as JSON and (with matplotlib) PNG charts."""
from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict
from pathlib import Path

from .stats import Stats


def distribution(lengths: Counter) -> dict:
    """Summary and a 10-bin histogram of a length -> count table."""
    total = sum(lengths.values())
    if not total:
        return {"count": 0}
    values = sorted(lengths)

    def quantile(q: float) -> int:
        rank, seen = q * (total - 1), 0
        for v in values:
            seen += lengths[v]
            if seen > rank:
                return v
        return values[-1]

    lo, hi = values[0], values[-1]
    width = max(1, -(-(hi - lo + 1) // 10))
    bins: Counter[int] = Counter()
    for v, c in lengths.items():
        bins[(v - lo) // width] += c
    return {"count": total, "min": lo, "max": hi,
            "mean": round(sum(v * c for v, c in lengths.items()) / total, 1),
            "p10": quantile(0.1), "p50": quantile(0.5), "p90": quantile(0.9),
            "histogram": [[lo + b * width, lo + (b + 1) * width - 1, bins[b]]
                          for b in range((hi - lo) // width + 1)]}


def _table(counter: Counter) -> dict:
    """Counts, most frequent first, ties in key order (deterministic)."""
    return {str(k): v for k, v in sorted(counter.items(), key=lambda kv: (-kv[1], str(kv[0])))}


def build(summary, data: Path) -> dict:
    """The report. Locations name the data file without its folder (as the corpus does), so the
    same inputs give the same report wherever they were read from."""
    from .instances import short_location

    s: Stats = summary.stats
    local = str(data)

    def here(line: str) -> str:
        return short_location(line, local)
    return {
        "spec": summary.spec, "data": Path(data).name, "adapter": summary.adapter,
        "policy": asdict(summary.policy),
        "examples": s.examples, "instances": s.instances, "duplicates_removed": s.duplicates,
        "failed_instances": s.failed, "failure_reasons": _table(s.failures),
        "problems": summary.problem_count,
        "problem_lines": [here(p) for p in summary.problems[:100]],
        "formats": _table(s.formats), "phrasings": _table(s.phrasings),
        "guidelines": _table(s.guidelines), "rules": _table(s.rules),
        "labels": {"asked": _table(s.labels_asked), "answered": _table(s.labels_answered)},
        "label_batch_sizes": _table(s.batch_sizes), "few_shot": _table(s.shots),
        "empty_answers": s.empty_answers,
        "instruction_chars": distribution(s.instruction_chars),
        "answer_chars": distribution(s.answer_chars),
        "format_fallbacks": _table(s.rejected),  # also inside instances that no format could take
        "fallback_locations": {k: [here(w) for w in v] for k, v in sorted(s.samples.items())},
    }


def write(report: dict, folder: Path, charts: bool = True) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    written = [folder / "report.json"]
    written[0].write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    if charts:
        written += _charts(report, folder)
    return written


def _charts(report: dict, folder: Path) -> list[Path]:
    try:
        import matplotlib
    except ImportError:
        raise RuntimeError("charts need matplotlib: pip install 'humdsl[plot]'") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = []
    bars = [("formats", "Instances per format", report["formats"]),
            ("phrasings", "Instances per instruction phrasing", report["phrasings"]),
            ("guidelines", "Instructions citing each guideline", report["guidelines"]),
            ("rules", "Instructions citing each preference rule", report["rules"]),
            ("labels", "Labels asked for and present in answers", report["labels"])]
    for name, title, table in bars:
        if not table or (name == "labels" and not table["asked"]):
            continue
        fig, ax = plt.subplots(figsize=(8, 0.35 * max(len(table.get("asked", table)), 4) + 1.2))
        if name == "labels":
            keys = list(table["asked"])
            ax.barh(keys, [table["asked"][k] for k in keys], label="asked")
            ax.barh(keys, [table["answered"].get(k, 0) for k in keys], label="in the answer")
            ax.legend(loc="lower right")
        else:
            keys = list(table)
            ax.barh(keys, [table[k] for k in keys])
        ax.invert_yaxis()
        ax.set_title(title)
        ax.set_xlabel("instances")
        fig.tight_layout()
        path = folder / f"{name}.png"
        fig.savefig(path, dpi=100, metadata={"Software": None})
        plt.close(fig)
        out.append(path)
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.5))
    for ax, key, title in zip(axes, ("instruction_chars", "answer_chars"),
                              ("Instruction length (characters)", "Answer length (characters)")):
        dist = report[key]
        if dist.get("count"):
            hist = dist["histogram"]
            ax.bar([(a + b) / 2 for a, b, _ in hist], [c for _, _, c in hist],
                   width=[(b - a + 1) * 0.9 for a, b, _ in hist])
        ax.set_title(title)
    fig.tight_layout()
    path = folder / "lengths.png"
    fig.savefig(path, dpi=100, metadata={"Software": None})
    plt.close(fig)
    return out + [path]

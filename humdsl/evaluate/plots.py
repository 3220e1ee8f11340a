"""PNG charts of a scoring result (humc eval --plot DIR): per-label F1, the confusion matrix,
the items' precision-recall curve by their probability, and a comparison of groups (formats, phrasings, prediction files)."""
from __future__ import annotations

from ..errors import HumError
from pathlib import Path


class PlotUnavailable(HumError):
    pass


def _plt():
    try:
        import matplotlib
    except ImportError:
        raise PlotUnavailable("--plot needs matplotlib: pip install 'humdsl[plot]'") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _per_label(result: dict) -> dict:
    s = result["scores"]
    for key in ("strict", "trigger_classification"):
        if key in s and "per_label" in s[key]:
            return s[key]["per_label"]
    return s.get("per_label", {})


def write(result: dict, out: Path, comparison: dict[str, float] | None = None) -> list[Path]:
    plt = _plt()
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    per = _per_label(result)
    if per and isinstance(next(iter(per.values())), dict):
        labels = list(per)
        fig, ax = plt.subplots(figsize=(max(5, 0.5 * len(labels) + 2), 4))
        ax.bar(range(len(labels)), [100 * per[x]["f1"] for x in labels], color="#4c72b0")
        ax.set_xticks(range(len(labels)))
        ax.set_xticklabels(labels, rotation=45, ha="right")
        ax.set_ylabel("F1 (%)")
        ax.set_ylim(0, 100)
        ax.set_title(f"{result['kind']}: F1 per label")
        fig.tight_layout()
        written.append(_save(fig, out / "per_label_f1.png", plt))
    conf = result["scores"].get("confusion")
    if conf:
        labels = result["scores"]["labels"]
        cols = labels + ["(none)"]
        matrix = [[conf[y][c] for c in cols] for y in labels]
        fig, ax = plt.subplots(figsize=(1 + 0.7 * len(cols), 1 + 0.6 * len(labels)))
        ax.imshow(matrix, cmap="Blues")
        ax.set_xticks(range(len(cols)))
        ax.set_xticklabels(cols, rotation=45, ha="right")
        ax.set_yticks(range(len(labels)))
        ax.set_yticklabels(labels)
        ax.set_xlabel("predicted")
        ax.set_ylabel("gold")
        top = max((v for row in matrix for v in row), default=0) or 1
        for i, row in enumerate(matrix):
            for j, v in enumerate(row):  # light text on dark cells
                ax.text(j, i, str(v), ha="center", va="center", fontsize=8,
                        color="white" if v > top / 2 else "black")
        ax.set_title("confusion matrix")
        fig.tight_layout()
        written.append(_save(fig, out / "confusion.png", plt))
    curve = result.get("item_confidence")
    if curve:
        fig, ax = plt.subplots(figsize=(5, 4))
        points = curve["curve"]
        # each precision holds from the recall before it up to its own (the area's steps)
        ax.step([0] + [100 * x["recall"] for x in points], [100 * points[0]["precision"]] +
                [100 * x["precision"] for x in points], where="pre",
                color="#4c72b0", label=f"by item probability (AP {100 * curve['average_precision']:.1f})")
        last = points[-1]
        ax.plot([0, 100 * last["recall"]], [100 * last["precision"]] * 2, color="#999999", linestyle="--",
                label=f"random order (AP {100 * curve['random_ranking']:.1f})")
        ax.set_xlabel("recall (%)")
        ax.set_ylabel("precision (%)")
        ax.set_xlim(0, 100)
        ax.set_ylim(0, 100)
        ax.legend(loc="upper right")
        ax.set_title("precision-recall of the items")
        fig.tight_layout()
        written.append(_save(fig, out / "pr_curve.png", plt))
    if comparison:
        names = list(comparison)
        fig, ax = plt.subplots(figsize=(max(5, 0.7 * len(names) + 2), 4))
        ax.bar(range(len(names)), [100 * comparison[n] for n in names], color="#55a868")
        ax.set_xticks(range(len(names)))
        ax.set_xticklabels(names, rotation=30, ha="right")
        ax.set_ylabel(f"{result['main_score']['name']} (%)")
        ax.set_ylim(0, 100)
        ax.set_title("comparison")
        fig.tight_layout()
        written.append(_save(fig, out / "comparison.png", plt))
    return written


def _save(fig, path: Path, plt) -> Path:
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path

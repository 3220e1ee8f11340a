"""Front-end speed: cold `humc check` over the repository's specs, and parse+check of a generated
10,000-line spec, each measured beside the obvious alternative in the same run.

    python bench/bench_check.py [--runs N] [--out bench/results/check.json]

Targets (issue 2): cold check under 0.3 s wall with no model library imported; the 10,000-line
spec under 1 s.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


CPU: dict[str, list[float]] = {}


def timed_process(cmd: list[str], runs: int, env=None, label: str = "") -> list[float]:
    """Wall seconds per run; CPU seconds (user + system) are kept in CPU, being less sensitive
    to other load on a shared machine."""
    import resource

    times, cpu = [], []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
        times.append(time.perf_counter() - t)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
        if proc.returncode not in (0, 1):
            raise SystemExit(f"{cmd} failed:\n{proc.stderr}")
    if label:
        CPU[label] = cpu
    return times


def generated_spec(lines_wanted: int) -> tuple[str, dict]:
    """A big but realistic spec, and the same content as a plain data structure (for YAML)."""
    out, data, n = [], {"tasks": []}, 0
    while len(out) < lines_wanted:
        labels = [f"L{n}_{i}" for i in range(8)]
        task = {"name": f"t{n}", "kind": "entities", "version": "1.0.0", "labels": [], "guidelines": [],
                "examples": []}
        out += [f"task t{n} : entities {{", '  version "1.0.0"', f'  about "Generated task number {n}."',
                "  labels {"]
        for code in labels:
            out.append(f'    {code} "label {code}" : "Mentions of things of kind {code}."')
            task["labels"].append({"code": code, "name": f"label {code}",
                                   "description": f"Mentions of things of kind {code}."})
        out.append("  }")
        for g in range(4):
            out.append(f'  guideline g{g} for {labels[g]} : "Rule {g} for task {n}." | "Paraphrase {g}."')
            task["guidelines"].append({"id": f"g{g}", "for": [labels[g]],
                                       "texts": [f"Rule {g} for task {n}.", f"Paraphrase {g}."]})
        out += ["  prefer grounded", "  prefer max_items(10)",
                '  instruction "Extract the entities." | "Find every mention."', "  formats tuples, json_by_label"]
        for e in range(3):
            text = f"Alice{e} met Bob{e} in Paris{e} on day {n}."
            out += ["  example {", f'    input "{text}"',
                    f'    output {{ {labels[0]}: ["Alice{e}", "Bob{e}"], {labels[1]}: ["Paris{e}"] }}', "  }"]
            task["examples"].append({"input": text, "output": {labels[0]: [f"Alice{e}", f"Bob{e}"],
                                                              labels[1]: [f"Paris{e}"]}})
        out += ["}", ""]
        data["tasks"].append(task)
        n += 1
    return "\n".join(out) + "\n", data


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "check.json"))
    args = ap.parse_args()
    humc = str(Path(sys.executable).with_name("humc"))
    # As installed for a user: Python caches bytecode (pip compiles it at install time). Some
    # sandboxes set PYTHONDONTWRITEBYTECODE; that case is measured separately below.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    folders = [str(ROOT / f) for f in ("specs", "stdlib", "examples")]
    subprocess.run([humc, "check", *folders], capture_output=True, env=env)  # warm caches once

    check = timed_process([humc, "check", *folders], args.runs, env, label="check")
    no_bytecode = timed_process([humc, "check", *folders], max(3, args.runs // 3),
                                dict(env, PYTHONDONTWRITEBYTECODE="1", PYTHONPYCACHEPREFIX=tempfile.mkdtemp()))
    floor = timed_process([sys.executable, "-c", "pass"], args.runs)
    heavy = timed_process([sys.executable, "-c", "import torch, transformers, outlines"],
                          max(3, args.runs // 5))
    leaked = subprocess.run(
        [sys.executable, "-c", "import sys; from humdsl.cli import main; from humdsl.compiler import "
         f"check_paths; check_paths({folders!r}); print(','.join(m for m in ('torch','transformers',"
         "'outlines') if m in sys.modules))"], capture_output=True, text=True).stdout.strip()

    text, data = generated_spec(10_000)
    import yaml

    from humdsl.compiler import check_paths
    from humdsl.syntax.parser import _lark

    _lark()
    with tempfile.TemporaryDirectory() as tmp:
        spec = Path(tmp) / "big.hum"
        spec.write_text(text, encoding="utf-8")
        yaml_file = Path(tmp) / "big.yaml"
        yaml_file.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
        big, yml = [], []
        for _ in range(5):
            t = time.perf_counter()
            result = check_paths([spec])
            big.append(time.perf_counter() - t)
            assert result.ok, [d.message for d in result.diagnostics[:5]]
            loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
            t = time.perf_counter()
            yaml.load(yaml_file.read_text(encoding="utf-8"), Loader=loader)
            yml.append(time.perf_counter() - t)

    med = statistics.median
    results = {
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()},
        "cold_check": {
            "command": "humc check specs stdlib examples",
            "median_s": round(med(check), 4), "min_s": round(min(check), 4), "runs": len(check),
            "cpu_median_s": round(med(CPU["check"]), 4),
            "without_bytecode_cache_median_s": round(med(no_bytecode), 4),
            "python_startup_median_s": round(med(floor), 4),
            "import_torch_transformers_outlines_median_s": round(med(heavy), 4),
            "ratio_vs_importing_model_libraries": round(med(heavy) / med(check), 1),
            "model_libraries_imported": leaked.split(",") if leaked else [],
            "target_s": 0.3, "meets_target": med(check) < 0.3 and not leaked,
        },
        "big_spec": {
            "lines": text.count("\n"), "tasks": len(data["tasks"]),
            "parse_and_check_median_s": round(med(big), 4),
            "same_content_as_yaml_load_median_s": round(med(yml), 4),
            "yaml_loader": "CSafeLoader" if hasattr(yaml, "CSafeLoader") else "SafeLoader",
            "ratio_vs_yaml_load": round(med(big) / med(yml), 2),
            "target_s": 1.0, "meets_target": med(big) < 1.0,
        },
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()

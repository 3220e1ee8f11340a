"""Readers for the public datasets: each yields canonical examples, reporting what it skips.

An example is {"id", "text", ...other input fields, "record", "source": "file:line"}. A reader
never drops data silently: every skipped item is recorded in `skipped` with its location.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

from ..jsonl import objects
from .conll import iter_conll, sentence_record


@dataclass
class Report:
    skipped: list[str] = field(default_factory=list)  # "file:line: why"


def _stem(path: Path) -> str:
    return path.name


def conll(scheme: str):
    def read(path: Path, report: Report) -> Iterator[dict]:
        for n, sent in enumerate(iter_conll(path, report.skipped), start=1):
            text, record = sentence_record(sent, scheme)
            yield {"id": f"{_stem(path)}:{n}", "text": text, "record": record, "source": f"{path}:{sent.line}"}
    return read


def conll04(path: Path, report: Report) -> Iterator[dict]:
    """CoNLL04 as distributed (BILOU tags; relations index the entities in order of appearance)."""
    from .conll import Sentence, tags_to_spans

    data = json.loads(path.read_text(encoding="utf-8"))
    for n, item in enumerate(data, start=1):
        if not isinstance(item, dict) or not isinstance(item.get("tokens"), list) or \
                not isinstance(item.get("tags"), list) or len(item["tokens"]) != len(item["tags"]):
            report.skipped.append(f"{path}:item {n}: an item needs 'tokens' and 'tags' lists of one length")
            continue
        tokens = item["tokens"]
        spans = tags_to_spans(item["tags"], "bilou")
        text, ents = sentence_record(Sentence(tokens, item["tags"], n), "bilou")
        entities = ents["entities"]
        relations = []
        for r in item.get("relations", []):
            if r["head"] >= len(spans) or r["tail"] >= len(spans):
                report.skipped.append(f"{path}:item {n}: relation {r} points past the entities")
                continue
            h, t = entities[r["head"]], entities[r["tail"]]
            relations.append({"head": h["text"], "type": r["type"], "tail": t["text"],
                              "head_type": h["type"], "tail_type": t["type"]})
        yield {"id": f"{_stem(path)}:{item.get('orig_id', n)}", "text": text,
               "record": {"relations": relations, "entities": entities}, "source": f"{path}:item {n}"}


_SEMEVAL = re.compile(r'^(\d+)\t"(.*)"$')
_E = re.compile(r"<e1>(.*?)</e1>.*?|<e2>(.*?)</e2>")


def semeval2010(path: Path, report: Report) -> Iterator[dict]:
    """SemEval-2010 Task 8: the sentence keeps its <e1>/<e2> marks; the relation's head is the
    first argument of its label (Cause-Effect(e2,e1): head e2); Other is no relation."""
    lines = path.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        m = _SEMEVAL.match(lines[i].strip())
        if not m:
            if lines[i].strip():
                report.skipped.append(f"{path}:{i + 1}: not an example line")
            i += 1
            continue
        number, sentence = m.groups()
        label = lines[i + 1].strip() if i + 1 < len(lines) else ""
        e1 = re.search(r"<e1>(.*?)</e1>", sentence)
        e2 = re.search(r"<e2>(.*?)</e2>", sentence)
        if not e1 or not e2:
            report.skipped.append(f"{path}:{i + 1}: the sentence lacks <e1> or <e2>")
            i += 4
            continue
        rels = []
        lm = re.match(r"^([\w-]+)\((e[12]),(e[12])\)$", label)
        if lm:
            args = {"e1": e1.group(1), "e2": e2.group(1)}
            rels.append({"head": args[lm.group(2)], "type": lm.group(1), "tail": args[lm.group(3)]})
        elif label != "Other":
            report.skipped.append(f"{path}:{i + 2}: unknown label {label!r}")
            i += 4
            continue
        yield {"id": f"{_stem(path)}:{number}", "text": sentence, "record": {"relations": rels},
               "source": f"{path}:{i + 1}"}
        i += 4


_PHEE_MAIN = ("Subject", "Treatment", "Effect")


def phee(path: Path, report: Report) -> Iterator[dict]:
    """PHEE: main arguments and their sub-arguments (Subject.Age, Treatment.Drug, ...) as roles of
    their own, one argument per mention; the pieces of a discontinuous mention are joined in
    order (such a span is not a substring of the text, and synthesis reports it); attributes
    (Severity, ...) are left out."""
    for where, d in objects(path, report.skipped):  # a broken line is reported, not fatal
        text = d["context"]
        events = []
        for ann in d.get("annotations", []):
            for e in ann.get("events", []):
                trig = _phee_text(e.get("Trigger"), text)
                if trig is None:
                    report.skipped.append(f"{where}: event {e.get('event_id')} has no usable trigger")
                    continue
                args: list[dict] = []
                for role in _PHEE_MAIN:
                    if role in e:
                        _phee_args(e[role], role, text, args)
                events.append({"type": e["event_type"], "trigger": trig, "arguments": args})
        yield {"id": d["id"], "text": text, "record": {"events": events}, "source": where}


def _phee_text(arg, text) -> str | None:
    """The first mention of an argument (a trigger has one); its discontinuous pieces joined."""
    mentions = _phee_mentions(arg)
    return mentions[0] if mentions else None


def _phee_mentions(arg) -> list[str]:
    """`text` is a list of mentions, each a list of pieces (several when it is discontinuous)."""
    if not arg or not arg.get("text"):
        return []
    return [" ".join(pieces) for pieces in arg["text"] if pieces]


def _phee_args(arg: dict, role: str, text: str, out: list) -> None:
    for value in _phee_mentions(arg):  # each mention is an argument of its own
        out.append({"role": role, "text": value})
    for sub, inner in arg.items():
        if isinstance(inner, dict) and "text" in inner:
            _phee_args(inner, sub, text, out)


def casie(path: Path, report: Report) -> Iterator[dict]:
    """CASIE, one document per example. Spans whose offsets do not match the text are reported
    and left out (the dataset README lists three such documents here)."""
    for where, d in objects(path, report.skipped):  # a broken line is reported, not fatal
        text = d["content"]
        events = []
        for hopper in d.get("cyberevent", {}).get("hopper", []):
            for e in hopper.get("events", []):
                nug = e["nugget"]
                trigger_ok = text[nug["startOffset"]:nug["endOffset"]] == nug["text"]
                if not trigger_ok:
                    report.skipped.append(f"{where} ({d['sourcefile']}): trigger {nug['text']!r} "
                                          "does not match its offsets: event left out")
                args = []
                for a in e.get("argument", []):
                    if text[a["startOffset"]:a["endOffset"]] != a["text"]:
                        report.skipped.append(f"{where} ({d['sourcefile']}): argument {a['text']!r} "
                                              "does not match its offsets")
                        continue
                    args.append({"role": a["role"]["type"], "text": a["text"]})
                if trigger_ok:
                    events.append({"type": e["subtype"], "trigger": nug["text"], "arguments": args})
        yield {"id": d["sourcefile"], "text": text, "record": {"events": events}, "source": where}


def carb(path: Path, report: Report) -> Iterator[dict]:
    """CaRB gold tuples (sentence, relation, arg1, arg2, more args...), grouped by sentence."""
    order: list[str] = []
    tuples: dict[str, list] = {}
    first: dict[str, int] = {}
    with path.open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, start=1):
            cols = line.rstrip("\n").split("\t")
            if len(cols) < 4:
                if line.strip():
                    report.skipped.append(f"{path}:{n}: a tuple needs a sentence, a relation and two arguments")
                continue
            sentence, rel, arg1, arg2, *rest = cols
            if sentence not in tuples:
                order.append(sentence)
                tuples[sentence] = []
                first[sentence] = n
            t: dict[str, str | list[str]] = {"subject": arg1, "predicate": rel, "object": arg2}
            if rest:
                t["args"] = rest
            tuples[sentence].append(t)
    for k, sentence in enumerate(order, start=1):
        yield {"id": f"{_stem(path)}:{k}", "text": sentence, "record": {"triples": tuples[sentence]},
               "source": f"{path}:{first[sentence]}"}


def squad(path: Path, report: Report) -> Iterator[dict]:
    data = json.loads(path.read_text(encoding="utf-8"))
    for article in data["data"]:
        for para in article["paragraphs"]:
            for qa in para["qas"]:
                answers = [a["text"] for a in qa.get("answers", [])]
                yield {"id": qa["id"], "text": para["context"], "question": qa["question"],
                       "record": {"answer": answers[0] if answers else None, "answers": answers},
                       "source": f"{path}:{article.get('title', '')}"}


def sst2(path: Path, report: Report) -> Iterator[dict]:
    with path.open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            label, _, sentence = line.strip().partition(" ")
            if label not in ("0", "1") or not sentence:
                report.skipped.append(f"{path}:{n}: expected 'LABEL SENTENCE' with LABEL 0 or 1")
                continue
            yield {"id": f"{_stem(path)}:{n}", "text": sentence,
                   "record": {"label": "positive" if label == "1" else "negative"}, "source": f"{path}:{n}"}


def trec(fine: bool):
    def read(path: Path, report: Report) -> Iterator[dict]:
        with path.open(encoding="utf-8") as fh:
            for n, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                label, _, question = line.strip().partition(" ")
                if ":" not in label or not question:
                    report.skipped.append(f"{path}:{n}: expected 'COARSE:fine QUESTION'")
                    continue
                yield {"id": f"{_stem(path)}:{n}", "text": question,
                       "record": {"label": label if fine else label.split(":")[0]}, "source": f"{path}:{n}"}
    return read


def canonical(path: Path, report: Report) -> Iterator[dict]:
    for where, d in objects(path, report.skipped):
        if "id" not in d or "text" not in d or "record" not in d:
            report.skipped.append(f"{where}: a line needs \"id\", \"text\" and \"record\"")
            continue
        yield {**d, "id": str(d["id"]), "source": where}


ADAPTERS: dict[str, Callable] = {
    "conll-iob1": conll("iob1"), "conll-iob2": conll("iob2"), "conll-bilou": conll("bilou"),
    "conll04": conll04, "semeval2010": semeval2010, "phee": phee, "casie": casie, "carb": carb,
    "squad": squad, "sst2": sst2, "trec-coarse": trec(False), "trec-fine": trec(True),
    "canonical": canonical,
}


def detect(path: Path) -> str | None:
    """An adapter name from a file's name and first line, or None."""
    name = path.name.lower()
    json_file = name.endswith((".json", ".jsonl"))  # never the plain-text SST-2 or TREC files
    if name.startswith("stsa.binary") and not json_file:
        return "sst2"
    if name.startswith("trec") and not json_file:
        return "trec-coarse"
    if name.endswith("_gold.tsv"):
        return "carb"
    if "train_file" in name or "test_file" in name:
        return "semeval2010"
    if name.startswith("conll04") and name.endswith(".json") and "spert" not in name:
        return "conll04"
    if name.endswith(".conll"):
        return "conll-iob2"
    if name.startswith("eng.") or name.endswith((".testa", ".testb")):
        return "conll-iob1"
    if name.endswith((".jsonl", ".json")):
        with path.open(encoding="utf-8", errors="replace") as fh:
            head = fh.readline()
        if '"cyberevent"' in head:
            return "casie"
        if '"annotations"' in head and '"context"' in head:
            return "phee"
        if '"data"' in head and '"version"' in head or head.strip() == "{":
            return "squad"
        if name.endswith(".jsonl"):
            return "canonical"
    return None


def available(plugins: dict[str, Callable | str] | None = None) -> dict[str, Callable]:
    """Built-in adapters plus those other packages register (entry point group humdsl.adapters).
    A plugin cannot replace a built-in adapter; one that fails to load is left out here and
    named, with its error, when it is asked for (`iter_examples`)."""
    found = dict(ADAPTERS)
    for name, loaded in (_plugins() if plugins is None else plugins).items():
        if name not in found and not isinstance(loaded, str):
            found[name] = loaded
    return found


def _plugins() -> dict[str, Callable | str]:
    """Each registered plugin adapter, or the reason it could not be loaded."""
    from importlib.metadata import entry_points

    plugins: dict[str, Callable | str] = {}
    for ep in entry_points(group="humdsl.adapters"):
        try:
            plugins[ep.name] = ep.load()
        except Exception as e:  # a broken third-party plugin must not break the others
            plugins[ep.name] = f"the adapter '{ep.name}' ({ep.value}) could not be loaded: {type(e).__name__}: {e}"
    return plugins


def read_examples(path: str | Path, adapter: str | None = None) -> tuple[list[dict], Report]:
    examples, report = iter_examples(path, adapter)
    return list(examples), report


def labelled(examples: list[dict], fields: list[str]) -> list[dict]:
    """The examples with a record and every one of a task's input fields as text: those a prompt
    can show (worked examples) or a run can be scored on (a dev file)."""
    return [e for e in examples if isinstance(e.get("record"), dict) and all(isinstance(e.get(f), str) for f in fields)]


def iter_examples(path: str | Path, adapter: str | None = None) -> tuple[Iterator[dict], Report]:
    """The examples of a dataset file, read as they are consumed (the report fills up as they
    are), by the named adapter or the one `detect` picks. Raises ValueError when neither gives
    an adapter."""
    path = Path(path)
    name = adapter or detect(path)
    plugins = _plugins()  # loaded once: for the adapters, and for why a plugin is missing
    adapters = available(plugins)
    if name not in adapters and name is not None and isinstance(broken := plugins.get(name), str):
        raise ValueError(broken)
    if name not in adapters:
        raise ValueError(f"cannot tell the format of {path}; give --adapter, one of {', '.join(adapters)}"
                         if name is None else f"unknown adapter '{name}'; the adapters are {', '.join(adapters)}")
    report = Report()
    return adapters[name](path, report), report

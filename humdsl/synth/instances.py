"""From one source example, K verified instruction instances (JSONL lines).

Every instance is checked twice before it is written: `Format.render` proves that its answer
parses back to the gold record restricted to the label batch, and the Verifier that the format's
grammar (what the model is held to at run time) accepts it.
"""
from __future__ import annotations

import json
from pathlib import Path

from ..constraints import GrammarInvalid
from ..formats import FormatUnfit, Unrenderable, build
from ..ir import task_hash
from ..kinds import KINDS
from ..prompts import PromptChoice, input_text, instruction_text
from .draw import Draw
from .policy import Policy
from .sampling import choose, present_labels
from .stats import Stats
from .verify import Verifier
from ..ir_types import TaskIR, effect_of


class Synthesiser:
    def __init__(self, task_ir: TaskIR, policy: Policy, seed: int, exact: bool = False,
                 data_path: str | None = None):
        self.task = task_ir
        self.kind = KINDS[task_ir["kind"]]
        self.policy = policy
        self.seed = seed
        self.formats = {f["name"]: build(task_ir, f) for f in task_ir["formats"]}
        self.verifier = Verifier(exact=exact)
        self.ordered = any(effect_of(r) == "ordered" for r in task_ir["rules"])
        self.spec = {"name": task_ir["name"], "version": task_ir["version"], "hash": task_hash(task_ir)}
        self.inputs = [f["name"] for f in task_ir.get("inputs", [])]
        # Locations start with the data path as the user wrote it; the corpus keeps the file
        # name only, so that it does not depend on where the data was read from.
        self.data_path = data_path

    def example(self, ex: dict, ordinal: int) -> tuple[list[str], Stats, list[str]]:
        """(JSONL lines, counts, problems as 'location: why') for one source example. A record of
        an unexpected shape, or a bug, costs this example only: it is reported, not raised."""
        try:
            return self._example(ex, ordinal)
        except GrammarInvalid:
            raise  # the compiler made a grammar llguidance refuses: every example would fail
        except Exception as e:  # noqa: BLE001 - reported with the example's location
            where = ex.get("source") or f"example {ordinal}"
            why = f"the example could not be used ({type(e).__name__}: {e})"
            return [], self._unusable(why), [f"{where}: {why}"]

    def _example(self, ex: dict, ordinal: int) -> tuple[list[str], Stats, list[str]]:
        stats = Stats(examples=1)
        where = ex.get("source") or f"example {ordinal}"
        missing = [f for f in self.inputs if not isinstance(ex.get(f), str) or not ex[f].strip()]
        if missing:
            why = f"the example lacks {', '.join(map(repr, missing))}"
            return [], self._unusable(why), [f"{where}: {why}"]
        record = ex.get("record")
        if not isinstance(record, dict):
            why = "the example has no gold record"
            return [], self._unusable(why), [f"{where}: {why}"]
        shape = self.kind.gold_problem(self.task, record)
        if shape:
            why = shape
            return [], self._unusable(why), [f"{where}: {why}"]
        bad = self.kind.unknown_labels(self.task, record)
        if bad:
            why = f"labels the task does not declare: {', '.join(bad)}"
            return [], self._unusable(why), [f"{where}: {why}"]
        text = ex["text"]
        gold = self.kind.prepare(self.task, record, text, self.ordered)
        draw = Draw(self.seed, ordinal, ex.get("id", ""))
        lines: list[str] = []
        seen: set[tuple[str, str]] = set()
        failures: dict[str, dict[str, None]] = {}  # why -> formats (an ordered set)
        shown_input = input_text(self.task, ex)
        source, example_id = self._short(where), str(ex.get("id", ordinal))
        present = present_labels(self.task, gold)
        for k in range(self.policy.instances_per_example):
            choice = choose(self.task, gold, self.policy, draw, len(self.task["examples"]), present)
            made = self._instance(choice, gold, text, stats, where)
            if made is None:
                stats.failed += 1
                for reason in self._last_reasons:  # why -> formats, in first-seen order
                    fmt, _, why = reason.partition(": ")
                    failures.setdefault(why, {})[fmt] = None
                stats.failures[self._last_reasons[0].partition(": ")[2] if self._last_reasons else "?"] += 1
                continue
            fmt_name, instruction, answer = made
            key = (instruction, answer)
            if key in seen:
                stats.duplicates += 1
                continue
            seen.add(key)
            self._count(stats, choice, fmt_name, instruction, answer, present)
            meta = {"spec": self.spec, "task": self.task["name"], "format": fmt_name,
                    "phrasing": choice.instruction, "guidelines": [list(g) for g in choice.guidelines],
                    "rules": [list(r) for r in choice.rules], "labels": choice.batch,
                    "shots": choice.shots, "source": source, "example": example_id,
                    "index": ordinal, "instance": k}
            lines.append(self._line(instruction, shown_input, answer, meta))
        problems = []
        if failures:
            why = "; ".join(f"{w} ({', '.join(f)})" for w, f in failures.items())
            problems.append(f"{where}: {stats.failed} of {self.policy.instances_per_example} instances failed, "
                            f"no format could express the gold answer: {why}")
        return lines, stats, problems

    def _unusable(self, why: str) -> Stats:
        """The counts of an example none of whose instances could be made."""
        k = self.policy.instances_per_example
        stats = Stats(examples=1, failed=k)
        stats.failures[why.split(" (")[0].split(":")[0]] += k
        return stats

    def _instance(self, choice, gold, text, stats, where):
        self._last_reasons = []
        for name in choice.formats:
            fmt = self.formats[name]
            try:
                fmt.check_fit(choice.batch)
                answer, parsed = fmt.render_checked(gold, batch=choice.batch, source=text)
            except (FormatUnfit, Unrenderable) as e:
                self._reject(stats, name, str(e), where)
                continue
            problem = self.verifier.problem(fmt, answer, choice.batch, text, parsed)
            if problem:
                self._reject(stats, name, f"the grammar rejects the answer: {problem}", where)
                continue
            # the rules across spans `humc run` keeps while decoding: no instance teaches what decoding refuses
            problem = fmt.span_rule_problem(parsed, text)
            if problem:
                self._reject(stats, name, f"the answer breaks a rule the decoder keeps: {problem}", where)
                continue
            shown = self._shots(fmt, choice)
            choice.shots = [i for i, _ in shown]  # what is shown, for meta and the report
            shots = [shot for _, shot in shown]
            pc = PromptChoice(instruction=choice.instruction, batch=choice.batch,
                              guidelines=choice.guidelines, rules=choice.rules, examples=shots,
                              descriptions=choice.descriptions)
            return name, instruction_text(self.task, fmt, pc), answer
        return None

    def _reject(self, stats: Stats, fmt: str, why: str, where: str) -> None:
        reason = f"{fmt}: {why}"
        stats.rejected[reason] += 1
        stats.note(reason, where)
        self._last_reasons.append(reason)

    def _shots(self, fmt, choice) -> list[tuple[int, dict]]:
        """The spec examples shown, answered under the same rules as the gold answer; one this
        format cannot write is left out."""
        out = []
        for i in choice.shots:
            ex = self.task["examples"][i]
            text = ex["input"]["text"]
            try:
                answer = fmt.render(self.kind.prepare(self.task, ex["output"], text, self.ordered),
                                    batch=choice.batch, source=text)
            except Unrenderable:
                continue
            out.append((i, {"input": ex["input"], "answer": answer}))
        return out

    def _short(self, where: str) -> str:
        return short_location(where, self.data_path)

    def _line(self, instruction: str, shown_input: str, answer: str, meta: dict) -> str:
        body: dict[str, object]
        if self.policy.style == "chat":
            body = {"messages": [{"role": "user", "content": instruction + "\n" + shown_input + "\n"},
                                 {"role": "assistant", "content": answer}]}
        else:
            body = {"instruction": instruction.rstrip("\n"), "input": shown_input, "output": answer}
        return json.dumps({**body, "meta": meta}, ensure_ascii=False)

    def _count(self, stats: Stats, choice, fmt_name, instruction, answer, present) -> None:
        stats.instances += 1
        stats.formats[fmt_name] += 1
        stats.phrasings[choice.instruction] += 1
        stats.guidelines.update(g for g, _ in choice.guidelines)
        stats.rules.update(r for r, _ in choice.rules)
        stats.shots[len(choice.shots)] += 1
        if choice.batch is not None:
            stats.batch_sizes[len(choice.batch)] += 1
            stats.labels_asked.update(choice.batch)
            answered = [x for x in present if x in choice.batch]
            stats.labels_answered.update(answered)
            stats.empty_answers += not answered
        stats.instruction_chars[len(instruction)] += 1
        stats.answer_chars[len(answer)] += 1


def short_location(where: str, data_path: str | None) -> str:
    """A location without the folder the data happened to be read from, so that the corpus does
    not change with the working directory."""
    if data_path and where.startswith(data_path + ":"):
        return Path(data_path).name + where[len(data_path):]
    path, sep, rest = where.partition(":")
    return Path(path).name + sep + rest if sep and "/" in path else where


def chunk_result(synth: Synthesiser, chunk: list[tuple[int, dict]]) -> tuple[str, Stats, list[str]]:
    """A chunk's corpus text, counts and problems, merged where they are made: a worker sends
    back one string and one Stats per chunk rather than a list and a Stats per example."""
    text: list[str] = []
    stats = Stats()
    problems: list[str] = []
    for ordinal, ex in chunk:
        lines, example_stats, example_problems = synth.example(ex, ordinal)
        text.extend(line + "\n" for line in lines)
        stats.add(example_stats)
        problems.extend(example_problems)
    return "".join(text), stats, problems

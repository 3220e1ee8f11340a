"""Prompts: one phrasing of the task laid out as text, and the Jinja2 template artifact of it.

The parts that vary between instances (instruction phrasing, label batch and order, guideline
and rule subsets, few-shot examples) are chosen by the caller: `humc compile` takes the first of
each, `humc synth` samples them, `humc run` takes what the user asks for.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .kinds import KINDS
from .ir_types import InputIR, LabelIR, TaskIR

def _fill(instruction: str, about: str, label_heading: str, labels: list[dict], roles: list[dict],
          fields: list[dict], guidelines: list[str], rules: list[str], format_description: str,
          empty: str | None, examples: list[dict], answer: str = "Answer") -> str:
    """The prompt's layout. Plain string building rather than a template engine: synth fills
    it for every instance, and this is ten times faster than rendering a Jinja2 template. What
    users get as artifacts is still a sandboxed Jinja2 template (`template_artifact`)."""
    parts = [instruction, "\n"]
    if about:
        parts += ["\nTask: ", about, "\n"]
    for heading, entries in ((label_heading, labels), ("Argument roles", roles)):
        if entries:
            parts += ["\n", heading, ":\n"]
            for lab in entries:
                parts += ["- ", lab["code"]]
                if lab["name"] != lab["code"]:
                    parts += [" (", lab["name"], ")"]
                if lab["description"]:
                    parts += [": ", lab["description"]]
                parts.append("\n")
    if fields:
        parts.append("\nFields:\n")
        for f in fields:
            parts += ["- ", f["name"], ": " + f["description"] if f["description"] else "", "\n"]
    for heading, texts in (("Guidelines", guidelines), ("Output conventions", rules)):
        if texts:
            parts += ["\n", heading, ":\n"]
            for t in texts:
                parts += ["- ", t, "\n"]
    parts += ["\nAnswer format: ", format_description, "."]
    if empty:
        parts += [" If there is nothing to report, answer exactly: ", empty]
    parts.append("\n")
    for i, ex in enumerate(examples, 1):
        parts += ["\nExample ", str(i), ":\n", ex["input"], "\n", answer, ": ", ex["answer"], "\n"]
    return "".join(parts)


@dataclass
class PromptChoice:
    """One instance's choices; None means 'all, in declared order' (or the first phrasing)."""
    instruction: int = 0
    batch: list[str] | None = None
    guidelines: list[tuple[str, int]] | None = None  # (guideline id, paraphrase index)
    rules: list[tuple[str, int]] | None = None  # (rule id, phrasing index)
    examples: list[dict] = field(default_factory=list)  # {"input": {...}, "answer": "..."}
    descriptions: dict[str, int] | None = None  # label code -> paraphrase index
    parts: str = "full"  # full; lean: no about, guidelines or rules; bare: lean, no label descriptions


def answer_name(task_ir: TaskIR | dict) -> str:
    """The name the prompt shows the answer by, after the input (`answer "Sentiment"`)."""
    return task_ir.get("answer") or "Answer"


def shown_name(field: InputIR | dict) -> str:
    """The name the prompt shows an input field by: as declared (`input text "Sentence"`), else its
    name capitalised ("Text", "Question")."""
    return field.get("shown") or field["name"].replace("_", " ").capitalize()


def input_text(task_ir: TaskIR, inp: dict) -> str:
    """How an input is shown: the text, then any other declared input fields, each by its shown name."""
    shown = {f["name"]: shown_name(f) for f in task_ir.get("inputs", [])}
    lines = [f"{shown.get('text', 'Text')}: {inp['text']}"]
    for f in task_ir.get("inputs", []):
        if f["name"] != "text" and f["name"] in inp:
            lines.append(f"{shown[f['name']]}: {inp[f['name']]}")
    return "\n".join(lines)


def instruction_text(task_ir: TaskIR, fmt, choice: PromptChoice) -> str:
    """The prompt without the input: what an instruction-tuning corpus calls the instruction."""
    phrasings = task_ir.get("instructions") or [KINDS[task_ir["kind"]].instruction]
    instruction = phrasings[choice.instruction % len(phrasings)]
    batch = choice.batch if choice.batch is not None else [l["code"] for l in task_ir.get("labels", [])]
    by_code = {l["code"]: l for l in task_ir.get("labels", [])}

    def label_view(lab: LabelIR, n: int = 0) -> dict:
        descs = lab.get("descriptions") or []
        return {"code": lab["code"], "name": lab.get("name", lab["code"]),
                "description": descs[n % len(descs)] if descs else ""}

    desc_choice = choice.descriptions or {}
    labels = [label_view(by_code[c], desc_choice.get(c, 0)) for c in batch if c in by_code]
    roles = [label_view(r) for r in task_ir.get("roles", [])]
    fields = [{"name": f["name"], "description": (f.get("descriptions") or [""])[0]}
              for f in task_ir.get("fields", [])]
    guidelines = _texts([(g["id"], g["scope"], g["texts"]) for g in task_ir["guidelines"]], choice.guidelines, batch)
    rules = _texts([(r["id"], [], r["texts"]) for r in task_ir["rules"]], choice.rules, None)
    about = task_ir.get("about", "")
    if choice.parts != "full":  # a small model may do better with less to read (humc tune measures it)
        about, guidelines, rules = "", [], []
    if choice.parts == "bare":
        labels = [{**lab, "description": ""} for lab in labels]
    empty = fmt.empty_answer()
    description = (fmt.describe[0] if fmt.describe else f"the {fmt.name} format")
    return _fill(
        instruction=instruction, about=about,
        label_heading=KINDS[task_ir["kind"]].label_heading, labels=labels, roles=roles,
        fields=fields, guidelines=guidelines, rules=rules, format_description=description,
        empty=empty, examples=[{"input": input_text(task_ir, e["input"]), "answer": e["answer"]}
                               for e in choice.examples], answer=answer_name(task_ir)).strip() + "\n"


def _texts(entries: list[tuple[str, list[str], list[str]]], chosen, batch) -> list[str]:
    """The texts shown of guidelines or rules, given as (id, scope, texts)."""
    if chosen is None:
        out = []
        for _, scope, texts in entries:
            if batch is not None and scope and not set(scope) & set(batch):
                continue  # a guideline about labels that are not asked for
            if texts:
                out.append(texts[0])
        return out
    by_id = {ident: texts for ident, _, texts in entries}
    return [by_id[i][n % len(by_id[i])] for i, n in chosen if by_id.get(i)]


def prompt_text(task_ir: TaskIR, fmt, inp: dict, choice: PromptChoice | None = None) -> str:
    """The whole prompt for one input: the instruction, then the input."""
    return instruction_text(task_ir, fmt, choice or PromptChoice()) + "\n" + input_text(task_ir, inp) + "\n"


def template_artifact(task_ir: TaskIR, fmt, choice: PromptChoice) -> str:
    """A Jinja2 template for the prompt with everything fixed but the input fields, which stay
    as {{ text }}, {{ question }}, ... Task text is escaped so it is never read as template code."""
    inp = {f["name"]: f"\x00{f['name']}\x00" for f in task_ir.get("inputs", [{"name": "text"}])}
    text = prompt_text(task_ir, fmt, inp, choice)
    text = text.replace("{", "\x01").replace("}", "\x02")
    text = text.replace("\x01", "{{ '{' }}").replace("\x02", "{{ '}' }}")
    for name in inp:
        text = text.replace(f"\x00{name}\x00", "{{ " + name + " }}")
    return text

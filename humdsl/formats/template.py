"""Text templates with holes: "({type}, {text})"; '{{' and '}}' stand for literal braces."""
from __future__ import annotations

import re
from dataclasses import dataclass

_HOLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?")


@dataclass(frozen=True)
class Part:
    kind: str  # "lit" | "hole"
    value: str
    offset: int  # position in the decoded template string

    def to_json(self) -> dict:
        return {self.kind: self.value}


class TemplateError(Exception):
    def __init__(self, message: str, offset: int):
        super().__init__(message)
        self.message = message
        self.offset = offset


def parse_template(text: str) -> list[Part]:
    parts: list[Part] = []
    buf: list[str] = []
    buf_start = 0
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "{" and text.startswith("{{", i):
            if not buf:
                buf_start = i
            buf.append("{")
            i += 2
        elif ch == "}" and text.startswith("}}", i):
            if not buf:
                buf_start = i
            buf.append("}")
            i += 2
        elif ch == "{":
            close = text.find("}", i + 1)
            if close < 0:
                raise TemplateError("'{' opens a hole that is never closed; write '{{' for a brace", i)
            name = text[i + 1:close].strip()
            if not _HOLE.fullmatch(name):
                raise TemplateError(f"'{{{text[i + 1:close]}}}' is not a hole name", i)
            if buf:
                parts.append(Part("lit", "".join(buf), buf_start))
                buf = []
            if parts and parts[-1].kind == "hole":
                raise TemplateError(f"holes '{parts[-1].value}' and '{name}' touch: put literal text "
                                    "between them so the output can be read back", i)
            parts.append(Part("hole", name, i))
            i = close + 1
        elif ch == "}":
            raise TemplateError("'}' without '{'; write '}}' for a brace", i)
        else:
            if not buf:
                buf_start = i
            buf.append(ch)
            i += 1
    if buf:
        parts.append(Part("lit", "".join(buf), buf_start))
    return parts

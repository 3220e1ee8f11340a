"""Decoding string literals: escapes, and the indentation rules of triple-quoted strings."""
from __future__ import annotations

import re

SIMPLE_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\", "0": "\0"}
_UNICODE = re.compile(r"u\{([0-9A-Fa-f]{1,6})\}")


class StringError(Exception):
    def __init__(self, message: str, offset: int, length: int = 2):
        super().__init__(message)
        self.message = message
        self.offset = offset  # relative to the start of the decoded body in the raw token
        self.length = length


def unescape(body: str, base: int = 0) -> str:
    """Process escapes in `body`; `base` offsets error positions."""
    if "\\" not in body:
        return body
    out: list[str] = []
    i = 0
    while i < len(body):
        ch = body[i]
        if ch != "\\":
            out.append(ch)
            i += 1
            continue
        nxt = body[i + 1] if i + 1 < len(body) else ""
        if nxt in SIMPLE_ESCAPES and nxt:
            out.append(SIMPLE_ESCAPES[nxt])
            i += 2
            continue
        m = _UNICODE.match(body, i + 1)
        if m:
            cp = int(m.group(1), 16)
            if cp > 0x10FFFF or 0xD800 <= cp <= 0xDFFF:
                raise StringError(f"\\u{{{m.group(1)}}} is not a Unicode scalar value", base + i,
                                  m.end() - i)
            out.append(chr(cp))
            i = m.end()
            continue
        if nxt == "\n":
            # A backslash at the end of a line in a long string joins the lines.
            i += 2
            continue
        shown = repr(nxt)[1:-1] if nxt else "end of string"
        raise StringError(f"unknown escape '\\{shown}'; use \\\\ for a backslash, or one of "
                          "\\n \\t \\r \\\" \\0 \\u{hex}", base + i)
    return "".join(out)


def decode_short(raw: str) -> str:
    """raw includes the quotes."""
    return unescape(raw[1:-1], base=1)


def long_string_lines(raw: str) -> tuple[list[str], int]:
    """Split the inside of a \"\"\"string\"\"\" into its lines, and the offset of the first line.

    A newline right after the opening quotes and a last line holding only the indentation of the
    closing quotes are part of the layout, not of the value.
    """
    body = raw[3:-3]
    start = 3
    if body.startswith("\n"):
        body = body[1:]
        start += 1
    elif body.startswith("\r\n"):
        body = body[2:]
        start += 2
    lines = body.split("\n")
    if len(lines) > 1 and lines[-1].strip(" \t") == "":
        lines = lines[:-1]
    return lines, start


def common_indent(lines: list[str]) -> int:
    widths = [len(ln) - len(ln.lstrip(" \t")) for ln in lines if ln.strip(" \t\r")]
    return min(widths) if widths else 0


def decode_long(raw: str) -> str:
    lines, start = long_string_lines(raw)
    indent = common_indent(lines)
    # Dedent first, then unescape the whole text, so that a backslash ending a line joins it with
    # the next; `where` maps each kept character back to its offset in `raw` for error positions.
    chars: list[str] = []
    where: list[int] = []
    offset = start
    for n, ln in enumerate(lines):
        if n:
            chars.append("\n")
            where.append(offset - 1)
        body = ln.rstrip("\r")
        if body.strip(" \t"):
            cut = min(indent, len(body))
            chars.extend(body[cut:])
            where.extend(range(offset + cut, offset + len(body)))
        offset += len(ln) + 1
    text = "".join(chars)
    try:
        return unescape(text)
    except StringError as e:
        e.offset = where[e.offset] if e.offset < len(where) else len(raw) - 3
        raise


def encode_short(value: str) -> str:
    """The canonical spelling of a value as a one-line string literal."""
    out = ['"']
    for ch in value:
        if ch == "\\":
            out.append("\\\\")
        elif ch == '"':
            out.append('\\"')
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\r":
            out.append("\\r")
        elif ord(ch) < 0x20 or ord(ch) == 0x7F or 0xD800 <= ord(ch) <= 0xDFFF:
            out.append(f"\\u{{{ord(ch):x}}}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def encode_long(value: str, indent: str) -> str | None:
    """The value as a triple-quoted literal indented by `indent`, or None if it cannot round-trip."""
    lines = []
    for ln in value.split("\n"):
        esc = ln.replace("\\", "\\\\").replace('"""', '\\"""')
        if any(ord(c) < 0x20 and c != "\t" for c in esc) or esc != esc.rstrip(" \t"):
            return None  # control characters or trailing blanks would not survive layout
        lines.append(esc)
    body = "\n".join((indent + ln) if ln else "" for ln in lines)
    raw = '"""\n' + body + "\n" + indent + '"""'
    try:
        if decode_long(raw) != value:
            return None
    except StringError:
        return None
    return raw

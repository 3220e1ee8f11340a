"""GBNF (as formats/gbnf.py writes it: one rule a line) read into llguidance's Lark dialect, so
that llguidance can judge what a GBNF grammar accepts: written here, apart from the writer.
Every lexeme is one character, as in GBNF, which has no lexer."""
import json
import re

_TOKEN = re.compile(r'\s*(::=|"(?:\\.|[^"\\])*"|\[(?:\\.|[^\]\\])*\]|\{\d+,\d*\}|[A-Za-z0-9-]+|[()|?*+.])')


def _gbnf_string(token: str) -> str:
    """A GBNF literal's text (escapes \\n \\r \\t \\" \\\\ \\xHH \\uHHHH \\UHHHHHHHH)."""
    out, i, body = [], 0, token[1:-1]
    while i < len(body):
        if body[i] == "\\":
            nxt = body[i + 1]
            if nxt in "xuU":
                width = {"x": 2, "u": 4, "U": 8}[nxt]
                out.append(chr(int(body[i + 2:i + 2 + width], 16)))
                i += 2 + width
                continue
            out.append({"n": "\n", "r": "\r", "t": "\t"}.get(nxt, nxt))
            i += 2
            continue
        out.append(body[i])
        i += 1
    return "".join(out)


def gbnf_as_lark(text: str) -> str:
    """GBNF (as gbnf() writes it: one rule a line) in llguidance's Lark dialect."""
    lines = []
    for line in text.splitlines():
        name, body = line.split(" ::= ", 1)
        parts, pos = [], 0
        while pos < len(body):
            m = _TOKEN.match(body, pos)
            assert m, f"cannot read {body[pos:pos + 30]!r}"
            tok, pos = m.group(1), m.end()
            if tok.startswith('"'):
                # one lexeme a character: llguidance's lexer is greedy, and a literal lexeme that
                # a longer one begins ("1" and "10000000") would make it miss answers GBNF takes
                chars = [json.dumps(ch, ensure_ascii=False) for ch in _gbnf_string(tok)]
                parts.append(f"({' '.join(chars)})" if chars else '""')
            elif tok.startswith("["):
                parts.append("/" + tok.replace("/", "\\/") + "/")  # a slash ends a Lark regex
            elif tok == ".":
                parts.append("/(?s:.)/")
            elif re.fullmatch(r"[A-Za-z0-9-]+", tok):
                parts.append("r_" + tok.lower().replace("-", "_"))
            elif tok[0] in "{?*+" and parts:  # a repeat binds to what it follows, written close
                parts[-1] += tok
            else:
                parts.append(tok)
        head = "start" if name == "root" else "r_" + name.lower().replace("-", "_")
        lines.append(f"{head}: {' '.join(parts)}")
    return "\n".join(lines) + "\n"

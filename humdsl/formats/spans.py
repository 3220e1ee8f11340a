"""What a span may be, checked the same way by render, parse and (as regexes) the grammar."""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache

# llguidance's substring_words splits text into runs of word characters, runs of whitespace
# and single other characters; a grounded span is a run of whole chunks.
_CHUNK = re.compile(r"\w+|\s+|[^\w\s]")
# A span neither starts nor ends with blanks or with punctuation that only separates.
# Whitespace as the grammar's regex engine (Rust, Unicode White_Space) sees it; Python's
# str.isspace() also counts the separators U+001C-U+001F, which would make the two disagree.
WHITESPACE = frozenset("\t\n\x0b\x0c\r \x85\xa0\u1680\u2028\u2029\u202f\u205f\u3000") | \
    frozenset(chr(c) for c in range(0x2000, 0x200B))
_BAD_FIRST = set(",.;:!?)]}")
_BAD_LAST = set(",;:([{")
# A one-character span must be fit to start and to end a span.
SHAPE_REGEX = r"/[^\s,.;:!?)\]}(\[{]|[^\s,.;:!?)\]}][^\n]*[^\s,;:(\[{]/"
MAX_FREE_CHARS = 200


@dataclass(frozen=True)
class SpanRule:
    """What a grounded span terminal of a grammar accepts, besides being whole chunks of the
    input: the grammar builders record one per terminal, from which the decoder reads the span's
    language without compiling the terminal (formats/answer_dag.py)."""
    json_mode: bool  # chunks written JSON-escaped, between quotes
    max_words: int
    stops: tuple[str, ...] = ()  # what the span may not contain
    ends: tuple[str, ...] = ()  # what it may not end with (cutting_ends)


@dataclass(frozen=True)
class FreeRule:
    """What a free-text terminal accepts (an open IE relation phrase, in the model's own words):
    the span shape, at most max_chars characters (in JSON, an escape is one), no stop and no
    forbidden end. The builders record one per terminal, as for SpanRule (formats/free_text.py)."""
    json_mode: bool
    max_chars: int
    stops: tuple[str, ...] = ()  # outside JSON only (in JSON, the closing quote ends the text)
    ends: tuple[str, ...] = ()
    shaped: bool = True  # False: any characters but a line break, none included (a reasoning line)


@lru_cache(maxsize=64)
def chunk_bounds(source: str) -> frozenset[int]:
    bounds = {0, len(source)}
    for m in _CHUNK.finditer(source):
        bounds.add(m.start())
        bounds.add(m.end())
    return frozenset(bounds)


def is_grounded(value: str, source: str) -> bool:
    """value is source[a:b] for chunk boundaries a and b (what substring_words accepts)."""
    bounds = chunk_bounds(source)
    start = source.find(value)
    while start >= 0:
        if start in bounds and start + len(value) in bounds:
            return True
        start = source.find(value, start + 1)
    return False


def word_count(value: str) -> int:
    """Words are separated by spaces only, so that a JSON-escaped span counts the same."""
    return len([w for w in value.split(" ") if w])


def span_problem(value, *, stops: tuple[str, ...] = (), grounded_in: str | None = None,
                 max_words: int | None = None, multiline: bool = False,
                 json_mode: bool = False, ends: tuple[str, ...] = ()) -> str | None:
    """Why `value` cannot fill a span hole, or None if it can. In JSON, a span may not start or
    end with a character that JSON escapes."""
    if not isinstance(value, str):
        return "a span must be a string"
    if not value:
        return "a span cannot be empty"
    if value[0] in _BAD_FIRST or value[0] in WHITESPACE:
        return f"a span cannot start with {value[0]!r}"
    if value[-1] in _BAD_LAST or value[-1] in WHITESPACE:
        return f"a span cannot end with {value[-1]!r}"
    if json_mode and (_json_escaped(value[0]) or _json_escaped(value[-1])):
        return "a span in JSON cannot start or end with a quote, a backslash or a control character"
    if not multiline and "\n" in value:
        return "a span in this format cannot hold a line break"
    for stop in stops:
        if stop and stop in value:
            return f"the span holds {stop!r}, which this format uses to end it"
    for end in ends:
        if value.endswith(end):
            return f"the span ends with {end!r}, where the literal after it would be read too early"
    if max_words is not None and word_count(value) > max_words:
        return f"the span has more than {max_words} words"
    if grounded_in is None and len(value) > MAX_FREE_CHARS:  # in JSON, an escape is one character
        return f"the span is longer than {MAX_FREE_CHARS} characters"
    if grounded_in is not None and not is_grounded(value, grounded_in):
        return "the span is not a whole-word substring of the input"
    return None


def cutting_ends(follow: str) -> tuple[str, ...]:
    """The ends a span before the literal `follow` may not have: follow[:k] where follow[k:]
    begins follow again (" |" before " | "). The first occurrence of `follow` ends the span, in
    parse and in llguidance's lazy lexeme alike, so such a span would be cut k characters short."""
    return tuple(follow[:k] for k in range(1, len(follow)) if follow[k:] == follow[:len(follow) - k])


def _json_escaped(ch: str) -> bool:
    return ch in '"\\' or ord(ch) < 0x20


def has_grounded_span(source: str, max_words: int, json_mode: bool = False) -> bool:
    """Does the input hold any whole-chunk span of an acceptable shape? When it does not, a
    grammar must offer no item that needs one: llguidance would let the model open such an
    item and then find no way to finish it."""
    parts = chunks(source)
    for c in parts:
        if span_problem(c, max_words=max_words, multiline=True, json_mode=json_mode) is None:
            return True
    for i in range(len(parts)):  # rare: only spans of several chunks (such as "(.") qualify
        for j in range(i + 2, min(len(parts), i + 2 * max_words + 1) + 1):
            if span_problem("".join(parts[i:j]), max_words=max_words, multiline=True,
                            json_mode=json_mode) is None:
                return True
    return False


@lru_cache(maxsize=64)
def longest_grounded(source: str, max_words: int) -> int:
    """The longest substring of at most max_words words: the most a grounded span can take (the
    bound of every span terminal of an input's grammar, so kept)."""
    words = [m for m in re.finditer(r"\S+", source)]
    best = 0
    for i in range(len(words)):
        j = min(len(words), i + max_words) - 1
        best = max(best, words[j].end() - words[i].start())
    return best


# ---- the same rules as grammar terminals (llguidance's Lark dialect) ---------------------------

def lark_string(s: str) -> str:
    """A Lark string literal. JSON escapes are a subset of what the Lark dialect reads."""
    return json.dumps(s, ensure_ascii=False)


def _regex_escape_literal(s: str) -> str:
    out = []
    for ch in s:
        if ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "/":
            out.append("\\/")
        elif ch in ".^$*+?()[]{}|\\-":
            out.append("\\" + ch)
        else:
            out.append(ch)
    return "".join(out)


def excludes(stop: str) -> str:
    """A terminal expression for 'does not contain stop'. A single character is a character
    class, which llguidance compiles about twice as fast as a negated pattern."""
    if len(stop) == 1:
        if stop == "\n":
            return r"/[^\n]*/"
        return f"/[^{_class_escape(stop)}]*/"
    return f"~/(?s:.*{_regex_escape_literal(stop)}.*)/"


def not_ending(ends: tuple[str, ...]) -> str:
    """A terminal expression for 'does not end with any of ends'."""
    return "~/(?s:.*(" + "|".join(_regex_escape_literal(e) for e in ends) + "))/"


def _class_escape(ch: str) -> str:
    if ch in "\\]^-[/":
        return "\\" + ch
    return {"\t": "\\t", "\r": "\\r"}.get(ch, ch)


def words_regex(max_words: int) -> str:
    return rf"/[^ ]+( +[^ ]+){{0,{max_words - 1}}}/"


def chunks(source: str) -> list[str]:
    return _CHUNK.findall(source)


_JSON_ESCAPED = re.compile(r'["\\\x00-\x1f]')  # exactly what json.dumps(ensure_ascii=False) escapes


def json_written(text: str) -> str:
    """`text` as it is written inside a JSON string. Most chunks need no escape: dumping each of
    an input's 2,000 chunks would cost 5 ms per input."""
    return json.dumps(text, ensure_ascii=False)[1:-1] if _JSON_ESCAPED.search(text) else text


def substring_regex(source: str, json_escaped: bool = False) -> str:
    """Whole-chunk substrings of the input, chunked here (not by llguidance) so that the grammar
    and is_grounded agree exactly; in JSON each chunk is escaped on its own."""
    parts = chunks(source)
    if json_escaped:
        parts = [json_written(c) for c in parts]
    return "%regex " + json.dumps({"substring_chunks": parts}, ensure_ascii=False)


# JSON string content: escapes, or any character but a quote, a backslash or a control character.
JSON_CHAR = r'(\\(["\\\/bfnrt]|u[0-9a-fA-F]{4})|[^"\\\x00-\x1f])'
JSON_SHAPE_REGEX = (r'/[^\s,.;:!?)\]}(\[{"\\\x00-\x1f]|[^\s,.;:!?)\]}"\\\x00-\x1f]' + JSON_CHAR +
                    r'*[^\s,;:(\[{"\\\x00-\x1f]/')


# Length bounds on free text are terminals of their own (grammar_tree.Length), named with this
# prefix, so that the decoder can derive the same grammar without them.
LENGTH_PREFIX = "LEN_"

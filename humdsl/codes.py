"""Every diagnostic humc can report, by stable code.

A code is never reused for another meaning. docs/language.md documents each one, and a test
checks that every code here is documented and triggered by a case file in tests/cases/check.
"""
from __future__ import annotations

from typing import NamedTuple


class Code(NamedTuple):
    code: str
    severity: str  # "error" | "warning"
    title: str


CODES: dict[str, Code] = {}


def _code(code: str, severity: str, title: str) -> str:
    CODES[code] = Code(code, severity, title)
    return code


# syntax and files
SYNTAX = _code("H001", "error", "syntax error")
BAD_STRING = _code("H002", "error", "invalid string literal")
UNREADABLE = _code("H003", "error", "file cannot be read")
PROPOSED_FIRST = _code("H004", "error", "the first of a text's alternatives is marked proposed")
# names and imports
IMPORT_NOT_FOUND = _code("H010", "error", "imported file not found")
IMPORT_CYCLE = _code("H011", "error", "import cycle")
UNKNOWN_NAME = _code("H012", "error", "unknown name")
DUPLICATE_DECL = _code("H013", "error", "duplicate declaration")
WRONG_KIND_OF_NAME = _code("H014", "error", "name refers to the wrong kind of declaration")
UNUSED_IMPORT = _code("H015", "warning", "unused import")
DUPLICATE_ALIAS = _code("H016", "error", "import alias used twice")
BAD_SHOWN_NAME = _code("H017", "error", "a name the prompt shows (an input's or the answer's) is blank or not one line")
# task structure
UNKNOWN_KIND = _code("H020", "error", "unknown task kind")
MISSING_MEMBER = _code("H021", "error", "required member missing")
MEMBER_NOT_ALLOWED = _code("H022", "error", "member not allowed for this task kind")
MEMBER_REPEATED = _code("H023", "error", "member given more than once")
BAD_VERSION = _code("H024", "error", "invalid version string")
EMPTY_LABELS = _code("H025", "error", "empty label set")
DUPLICATE_LABEL = _code("H026", "error", "duplicate label")
DUPLICATE_GUIDELINE = _code("H027", "error", "duplicate guideline")
UNKNOWN_SCOPE = _code("H028", "error", "guideline scoped to an unknown label or role")
DUPLICATE_TEXT = _code("H029", "warning", "the same text given twice")
EMPTY_TEXT = _code("H030", "error", "empty text")
BAD_REL_SIGNATURE = _code("H031", "error", "invalid relation signature")
BAD_ROLE_SIGNATURE = _code("H032", "error", "invalid event roles")
DUPLICATE_LABEL_NAME = _code("H033", "error", "two labels share a natural name")
BAD_SIMILAR = _code("H034", "error", "invalid 'similar' group")
UNKNOWN_SETTING = _code("H035", "error", "unknown task member or setting")
BAD_SETTING_VALUE = _code("H036", "error", "invalid setting value")
BAD_LABEL_CODE = _code("H037", "error", "invalid label code")
BAD_RENAME = _code("H038", "error", "a label renamed from a code the task still has, or from two labels")
BAD_APPROVAL = _code("H039", "error", "an approval without a version or a reason")
# formats
FORMAT_KIND_MISMATCH = _code("H040", "error", "format does not fit the task kind")
BAD_FORMAT = _code("H041", "error", "invalid format declaration")
FORMAT_UNFIT = _code("H042", "error", "format cannot write this task's answers unambiguously")
# preference rules
BAD_INLINE_RULE = _code("H045", "error", "invalid inline preference rule")
RULE_ARGS = _code("H046", "error", "wrong arguments to a preference rule")
RULE_NOT_APPLICABLE = _code("H047", "error", "preference rule does not apply to this task kind")
RULE_REPEATED = _code("H048", "error", "preference rule given twice or in conflict")
UNKNOWN_EFFECT = _code("H049", "error", "unknown rule effect")
# examples and tests
EXAMPLE_INCOMPLETE = _code("H050", "error", "example or test is missing its input or output")
EXAMPLE_SHAPE = _code("H051", "error", "example output has the wrong shape for the task kind")
EXAMPLE_UNKNOWN_LABEL = _code("H052", "error", "example output uses an unknown label, role or field")
SPAN_NOT_IN_INPUT = _code("H053", "error", "span does not occur in the example input")
EXAMPLE_VALUE = _code("H054", "error", "example value has the wrong type or is out of bounds")
EXAMPLE_INPUT = _code("H055", "error", "example input is invalid")
DUPLICATE_EXAMPLE = _code("H056", "warning", "duplicate example")
# record fields and types
UNKNOWN_TYPE = _code("H060", "error", "unknown field type")
BAD_TYPE_ARGS = _code("H061", "error", "invalid type arguments")
DUPLICATE_FIELD = _code("H062", "error", "duplicate field")
EMPTY_TYPE = _code("H063", "error", "empty enum or record")
# synthesis policy
UNKNOWN_SYNTH_SETTING = _code("H070", "error", "unknown synthesis setting")
BAD_SYNTH_VALUE = _code("H071", "error", "invalid synthesis setting value")
# run profile
UNKNOWN_RUN_SETTING = _code("H072", "error", "unknown run profile setting")
BAD_RUN_VALUE = _code("H073", "error", "invalid run profile setting value")
# corpora
UNKNOWN_CORPUS_SETTING = _code("H074", "error", "unknown corpus setting")
BAD_CORPUS_VALUE = _code("H075", "error", "invalid corpus setting value")
CORPUS_INCOMPLETE = _code("H076", "error", "corpus or corpus part is missing something it needs")
CORPUS_DATA_MISSING = _code("H077", "warning", "a corpus part's data file is not there")
CORPUS_SHARES = _code("H078", "error", "corpus shares do not add up")
# advice
NO_INSTRUCTION = _code("H080", "warning", "task has no instruction phrasing")

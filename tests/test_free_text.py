"""The free text's byte automaton (formats/free_text.py) on its own: it reads exactly valid UTF-8,
and counts units as the grammar's length terminal does. (Against llguidance, on whole answers and
on every mask along random answers: tests/test_dag_matcher.py.)"""
import pytest

from humdsl.formats.free_text import Machine
from humdsl.formats.spans import FreeRule


def _read(m: Machine, data: bytes):
    """(state, units started) after `data` from the start, or None where the text cannot hold it."""
    q, count = 0, 0
    for b in data:
        nxt = int(m.trans[q, b])
        if nxt < 0:
            return None
        count += int(m.starts[q, b])
        q = nxt
    return q, count


def _valid_utf8_prefix(data: bytes) -> bool:
    """Does some valid UTF-8 begin with `data`? (Past a character's second byte, any continuation
    byte will do, so 0x80s are enough to try.)"""
    for more in range(3):
        try:
            (data + b"\x80" * more).decode("utf-8")
            return True
        except UnicodeDecodeError:
            pass
    return False


@pytest.mark.parametrize("json_mode", [True, False])
def test_the_machine_reads_exactly_valid_utf8(json_mode):
    """Overlong forms, surrogates, code points past U+10FFFF and stray continuation bytes are
    refused at their first bad byte; every valid start of a character is read."""
    m = Machine(FreeRule(json_mode, 200))
    for b1 in range(0x80, 0x100):
        for b2 in range(0x100):
            data = b"a" + bytes([b1, b2])
            assert (_read(m, data) is not None) == _valid_utf8_prefix(data), data


def test_units_are_characters_and_in_json_escapes_count_as_one():
    text = Machine(FreeRule(False, 200, ("; ",)))
    assert _read(text, "aé🙂b".encode())[1] == 4
    assert _read(text, b"a\\u00e9b")[1] == 8  # outside JSON, a backslash is a character
    json = Machine(FreeRule(True, 200))
    q, count = _read(json, b"a\\u00e9\\nb")
    assert count == 4 and json.can_end[q]
    assert _read(json, b"a\\u00e") is not None and not json.can_end[_read(json, b"a\\u00e")[0]]
    assert _read(json, b"a\\x") is None and _read(json, b"\\n") is None  # no such escape; none first
    assert _read(text, b"a; ") is None and _read(text, b"a;b") is not None  # the stop, not its parts


def test_a_state_that_cannot_end_needs_one_more_unit():
    m = Machine(FreeRule(False, 3))
    q, count = _read(m, b"ab ")
    assert not m.can_end[q] and m.need[q] == 1 and not m.live(q, count)  # "ab x" is 4 characters
    assert [b for b, _, _ in m.next(*_read(m, b"ab"))] and m.live(*_read(m, b"ab"))
    q, count = _read(m, b"a\xc3")  # the second byte of "é" starts no unit
    assert count == 2 and m.need[q] == 0 and m.live(q, count)

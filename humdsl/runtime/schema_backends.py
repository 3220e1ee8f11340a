"""The other grammar backends Outlines offers, outlines_core and xgrammar, for formats that are
JSON-shaped: they take the format's JSON Schema (neither reads humdsl's Lark grammars: outlines_core
has no grammars at all, xgrammar only its own EBNF). llguidance stays the default, because only
it can ground spans in the input and build a constraint per input in milliseconds.

On these backends the schema is made finite first (every free string gets the same bound the
Lark grammar gives an ungrounded span), the token budget is derived from the schema, whitespace
is compact, and one compiled constraint serves the whole run, kept in the on-disk constraint
cache (`constraint_cache.py`) because compiling costs seconds. What a schema cannot say becomes a
post-condition, checked when each answer is parsed: grounded spans (an answer whose span is not
in its input is written as an error line) and, on outlines_core, numeric bounds, which it ignores.
"""
from __future__ import annotations

import copy
import json

from ..formats.spans import MAX_FREE_CHARS
from .constraint_cache import ConstraintCache, entry_key, tokenizer_hash
from .outlines_decoder import run_generator
from .protocol import BACKENDS, DecodeError, JsonSchema, Sampling, constraint_of

_NUMBER_BYTES = 24  # no schema backend here bounds a number's digits reliably; a longer one is cut
# and reported as an answer that does not parse


class UnboundedSchema(ValueError):
    """The schema accepts answers of any length: no token budget could hold every one."""


def bounded_schema(schema: dict, max_chars: int = MAX_FREE_CHARS) -> dict:
    """`schema` with every free string bounded to `max_chars` characters; an array without
    maxItems raises UnboundedSchema."""
    schema = copy.deepcopy(schema)

    def walk(node):
        if not isinstance(node, dict):
            return
        if node.get("type") == "string" and "maxLength" not in node:  # a pattern too: it may repeat
            node["maxLength"] = max_chars
        if node.get("type") == "array" and "maxItems" not in node:
            raise UnboundedSchema("an array has no maxItems")
        for key in ("properties", "$defs"):
            for child in (node.get(key) or {}).values():
                walk(child)
        for key in ("items", "additionalProperties"):
            walk(node.get(key))
        for key in ("anyOf", "oneOf", "allOf"):
            for child in node.get(key) or []:
                walk(child)

    walk(schema)
    return schema


def schema_max_bytes(node: dict) -> int:
    """The longest compact JSON text `node` accepts, in bytes (a string character counts 6: the
    longest escape, \\uXXXX). UnboundedSchema where there is no such bound."""
    if "const" in node:
        return len(json.dumps(node["const"]).encode())
    if "enum" in node:
        return max(len(json.dumps(v).encode()) for v in node["enum"])
    for key in ("anyOf", "oneOf"):
        if key in node:
            return max(schema_max_bytes(n) for n in node[key])
    kind = node.get("type")
    if kind == "object":
        props = node.get("properties") or {}
        if node.get("additionalProperties", True) is not False:
            raise UnboundedSchema("an object allows extra properties")
        inner = sum(len(json.dumps(k).encode()) + 1 + schema_max_bytes(v) for k, v in props.items())
        return 2 + inner + max(0, len(props) - 1)
    if kind == "array":
        if "maxItems" not in node:
            raise UnboundedSchema("an array has no maxItems")
        n = node["maxItems"]
        return 2 + n * schema_max_bytes(node.get("items") or {"type": "null"}) + max(0, n - 1)
    if kind == "string":
        if "maxLength" not in node:
            raise UnboundedSchema("a string has no maxLength")
        return 2 + 6 * node["maxLength"]
    if kind in ("integer", "number"):
        return _NUMBER_BYTES
    if kind == "boolean":
        return 5
    if kind == "null":
        return 4
    raise UnboundedSchema(f"cannot bound a schema node of type {kind!r}")


# outlines_core unrolls every bounded repetition into its token automaton, so its cost grows with
# the character positions a schema can fill (`schema_positions`). Measured here on SmolLM2's 49k
# vocabulary: 400 positions (2 spans of 200 characters) took 4 s and gave a 145 MB automaton;
# 1,000 took 10 s, 2 GB of memory and 370 MB; 4,000 (2 labels x 10 spans) 41-56 s, 6 GB and 1.5 GB;
# 9,500 (20 relations) went past 12 GB and the 32,000 of CoNLL-2003 NER past 24 GB (killed). Past
# this bound the backend is refused with a message, never left to exhaust memory or disk.
OUTLINES_CORE_MAX_POSITIONS = 1_000


def schema_positions(node: dict) -> int:
    """How many character positions the longest answer has, counting each repetition apart: the
    size of the automaton outlines_core unrolls."""
    if "const" in node or "enum" in node:
        return sum(len(json.dumps(v)) for v in node.get("enum", [node.get("const")]))
    for key in ("anyOf", "oneOf"):
        if key in node:
            return sum(schema_positions(n) for n in node[key])
    kind = node.get("type")
    if kind == "object":
        return sum(len(k) + 3 + schema_positions(v) for k, v in (node.get("properties") or {}).items())
    if kind == "array":
        return node.get("maxItems", 1) * schema_positions(node.get("items") or {"type": "null"})
    if kind == "string":
        return node.get("maxLength", MAX_FREE_CHARS)
    return _NUMBER_BYTES if kind in ("integer", "number") else 5


def schema_budget(schema: dict) -> int:
    """Tokens enough for the longest answer: every token is at least one byte, plus the EOS."""
    return schema_max_bytes(schema) + 1


def _version(dist: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return "?"


def schema_decoder(loaded, backend: str, fmt, batch: list[str] | None = None, choice: str = "auto"):
    """The decoder for `fmt` on a schema backend; DecodeError, in words, where it cannot be."""
    if backend not in BACKENDS:
        raise DecodeError(f"unknown backend {backend!r}; choose one of: {', '.join(BACKENDS)}")
    if choice == "jump-forward":
        raise DecodeError(f"jump-forward decoding runs on llguidance only, not on {backend}")
    schema = fmt.json_schema(batch)
    if schema is None:
        raise DecodeError(f"format '{fmt.name}' is not JSON-shaped, and the {backend} backend takes JSON "
                          f"Schema: choose a JSON format of the task or the llguidance backend")
    try:
        schema = bounded_schema(schema)
        schema_budget(schema)
    except UnboundedSchema as e:
        raise DecodeError(f"format '{fmt.name}' has no finite JSON Schema ({e}), so no answer on {backend} "
                          f"could be guaranteed to finish: use the llguidance backend") from None
    positions = schema_positions(schema)
    if backend == "outlines_core" and positions > OUTLINES_CORE_MAX_POSITIONS:
        raise DecodeError(f"format '{fmt.name}' is too large for outlines_core: its schema has {positions:,} "
                          f"character positions, and outlines_core unrolls each into its automaton (1,000 "
                          f"took 10 s, 2 GB of memory and 370 MB on disk here; the limit is "
                          f"{OUTLINES_CORE_MAX_POSITIONS:,}); use "
                          f"--backend xgrammar or llguidance, or fewer labels or a smaller max_items")
    return SchemaDecoder(loaded, backend, schema)


def _schema(constraint) -> dict:
    c = constraint_of(constraint)
    if not isinstance(c, JsonSchema):
        raise TypeError(f"a schema decoder takes JSON Schemas, not {type(c).__name__}")
    return c.schema


class SchemaDecoder:
    """The Outlines path on outlines_core or xgrammar: one compiled constraint per schema, from
    the on-disk cache when it is there, applied to every row of a batch (a schema does not vary by
    input). `schema` is the run's, bounded; `budget` is its token budget."""

    accepts = frozenset({JsonSchema})
    remote = False

    def __init__(self, loaded, backend: str, schema: dict, cache: ConstraintCache | None = None):
        import outlines

        if backend not in ("outlines_core", "xgrammar"):
            raise DecodeError(f"unknown schema backend {backend!r}")
        if backend == "xgrammar":
            try:
                import xgrammar  # noqa: F401
            except ImportError:
                raise DecodeError("the xgrammar backend needs the xgrammar package: "
                                  "pip install --no-deps xgrammar apache-tvm-ffi") from None
        self.backend_name = backend
        self.name = f"outlines+{backend}"
        self.loaded = loaded
        self.cache = cache or ConstraintCache()
        self.model = outlines.from_transformers(loaded.model, loaded.tokenizer)
        self._backend: object | None = None  # built on first use: only a cache miss needs it for outlines_core
        self._tokenizer_hash = tokenizer_hash(loaded.tokenizer)
        self._compiled: dict[str, object] = {}
        self.schema = schema
        self.budget = schema_budget(schema)

    def _outlines_backend(self):
        """outlines_core's vocabulary, or xgrammar's tokenizer info and compiler (as Outlines'
        XGrammarBackend builds them); the former only on a cache miss."""
        if self._backend is None:
            if self.backend_name == "outlines_core":
                from outlines.backends.outlines_core import OutlinesCoreBackend

                self._backend = OutlinesCoreBackend(self.model)
            else:
                import xgrammar as xgr

                tok = self.loaded.tokenizer
                info = xgr.TokenizerInfo.from_huggingface(tok, vocab_size=len(tok.get_vocab()))
                self._backend = (info, xgr.GrammarCompiler(info))
        return self._backend

    def _key(self, constraint: str) -> str:
        dist = "outlines_core" if self.backend_name == "outlines_core" else "xgrammar"
        return entry_key(backend=self.backend_name, version=_version(dist), outlines=_version("outlines"),
                         transformers=_version("transformers"), tokenizer=self._tokenizer_hash,
                         constraint=constraint)

    def compiled(self, schema: dict):
        """The compiled constraint for `schema` (memoised in the process, cached on disk)."""
        text = json.dumps(schema, sort_keys=True)
        if text in self._compiled:
            return self._compiled[text]
        if self.backend_name == "outlines_core":
            from outlines_core import Index
            from outlines_core.json_schema import build_regex_from_schema

            regex = build_regex_from_schema(json.dumps(schema), "")  # "": compact, no whitespace
            value = self.cache.get_or_build(
                self._key(regex), lambda: Index(regex, self._outlines_backend().vocabulary),
                dump=lambda index: index.__reduce__()[1][0], load=Index.from_binary)
        else:
            import xgrammar as xgr

            info, compiler = self._outlines_backend()
            value = self.cache.get_or_build(
                self._key(text),
                lambda: compiler.compile_json_schema(
                    json.dumps(schema), any_whitespace=False, separators=(",", ":")),
                dump=lambda compiled: compiled.serialize_json().encode("utf-8"),
                load=lambda payload: xgr.CompiledGrammar.deserialize_json(payload.decode("utf-8"), info))
        self._compiled[text] = value
        return value

    def processor(self, schema: dict):
        if self.backend_name == "outlines_core":
            from outlines.backends.outlines_core import OutlinesCoreLogitsProcessor

            return OutlinesCoreLogitsProcessor(self.compiled(schema), self.model.tensor_library_name)
        from outlines.backends.xgrammar import XGrammarLogitsProcessor

        return XGrammarLogitsProcessor(self.compiled(schema), self.model.tensor_library_name)

    def generate(self, prompts: list[str], constraints, max_new_tokens: int, sampling: Sampling) -> list[str]:
        import outlines

        schemas = {json.dumps(_schema(c), sort_keys=True) for c in constraints}
        if len(schemas) > 1:
            raise ValueError("a schema decoder decodes a batch under one schema")
        schema = json.loads(schemas.pop()) if schemas else self.schema
        processor = self.processor(schema)  # a fresh processor per batch: it holds the rows' states
        generator = outlines.Generator(self.model, processor=processor)
        tok = self.loaded.tokenizer
        return run_generator(generator, prompts, max_new_tokens, tok.eos_token_id, tok.pad_token_id, sampling)

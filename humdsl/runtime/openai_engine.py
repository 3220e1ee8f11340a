"""A model behind an OpenAI-compatible server (vLLM or llama.cpp's `llama-server`): the
constraint goes with each request, and nothing the server says is trusted.

- Each row's constraint is sent in the field the server reads. vLLM (0.12 and later):
  `structured_outputs`, the format's llguidance grammar as `{"grammar": LARK}` (grounded per
  input: start vLLM with `--structured-outputs-config.backend guidance`), or a JSON Schema as
  `{"json": SCHEMA}`. llama.cpp (the server lists its models as owned by "llamacpp"): `grammar`,
  the same grammar written in GBNF (formats/gbnf.py), or `json_schema`.
- At start a probe request checks that the server enforces grammars (one whose only answer is
  known); a server that does not is refused, naming the flag.
- Requests run `concurrency` at a time, with retries and backoff on transient errors; an answer
  cut at the budget (`finish_reason == "length"`) is that row's failure, never a record.
- The Session parses and checks every answer (grammar, grounding, rules) before it is written.
"""
from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Sequence

from ..errors import HumError
from ..formats.gbnf import GbnfUnsupported, gbnf
from ..formats.grammar_tree import GrammarTree, Lit, Rule, lark
from .constraint_cache import ConstraintCache
from .protocol import Grammar, JsonSchema, RowFailure, Sampling, constraint_of

PROBE_ANSWER = "humdsl probe 7f3a"
RETRIES = 4  # tries per request on a transient error (connection, 429, 5xx)


class EngineError(HumError):
    """The server cannot be used: unreachable, refusing the requests, or not enforcing grammars."""


class OpenAIDecoder:
    """protocol.Decoder over HTTP. `model` is the name the server serves the model under."""

    accepts = frozenset({Grammar, JsonSchema})
    budget: int | None = None  # the format's, per batch
    cache: ConstraintCache | None = None
    remote = True  # answers come from elsewhere: the session checks each against its grammar

    def __init__(self, base_url: str, model: str | None = None, api_key: str | None = None,
                 concurrency: int = 4, timeout: float = 600.0, probe: bool = True):
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.concurrency = max(1, concurrency)
        self.timeout = timeout
        served = self._served_models()
        if model is None:
            model = served[0]
        elif model not in served:
            raise EngineError(f"{self.base_url} serves {', '.join(served)}, not {model!r}: give --model one of them")
        self.model = model
        self.dialect = self._dialects.get(model, "vllm")
        self.name = f"openai:{self.base_url}/{model}"
        if probe:
            self._probe()

    # -- requests --------------------------------------------------------------------------------
    def _request(self, path: str, body: dict | None = None) -> dict:
        """One request with retries on what may pass (connection errors, 429, 5xx); EngineError
        with the server's own message otherwise."""
        data = json.dumps(body).encode("utf-8") if body is not None else None
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        delay = 0.5
        for attempt in range(RETRIES):
            req = urllib.request.Request(self.base_url + path, data=data, headers=headers,
                                         method="POST" if data is not None else "GET")
            try:
                with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                    return json.loads(resp.read().decode("utf-8"))
            except urllib.error.HTTPError as e:
                detail = _error_text(e)
                if e.code in (408, 429) or e.code >= 500:
                    if attempt + 1 < RETRIES:
                        time.sleep(delay)
                        delay *= 2
                        continue
                raise EngineError(f"{self.base_url}{path}: HTTP {e.code}: {detail}") from None
            except (urllib.error.URLError, ConnectionError, TimeoutError) as e:
                if attempt + 1 < RETRIES:
                    time.sleep(delay)
                    delay *= 2
                    continue
                reason = getattr(e, "reason", e)
                raise EngineError(f"cannot reach {self.base_url}: {reason}") from None
            except json.JSONDecodeError:
                raise EngineError(f"{self.base_url}{path} did not answer with JSON") from None
        raise EngineError(f"{self.base_url}{path}: no answer after {RETRIES} tries")  # pragma: no cover

    def _served_models(self) -> list[str]:
        listed = self._request("/v1/models")
        data = listed.get("data") if isinstance(listed, dict) else None
        entries = [m for m in data if isinstance(m, dict) and m.get("id")] if isinstance(data, list) else []
        if not entries:
            raise EngineError(f"{self.base_url}/v1/models lists no model")
        # the context: vLLM says max_model_len, llama.cpp meta.n_ctx; others may say nothing
        self._context = {str(m["id"]): m.get("max_model_len") or (m.get("meta") or {}).get("n_ctx")
                         for m in entries}
        self._dialects = {str(m["id"]): "llama.cpp" if m.get("owned_by") == "llamacpp" else "vllm" for m in entries}
        return [str(m["id"]) for m in entries]

    def _probe(self) -> None:
        """The server must enforce a grammar: asked for anything, it must answer the only text
        the grammar allows."""
        tree = GrammarTree((Rule("start", Lit(PROBE_ANSWER)),))
        answer = self._complete("Say something.", Grammar(lark(tree), tree), 64, Sampling())
        if isinstance(answer, RowFailure) and answer.message.startswith(self.base_url):  # the server refused it
            field = "`grammar`" if self.dialect == "llama.cpp" else "`structured_outputs` (vLLM 0.12 or later)"
            raise EngineError(f"the probe request was refused: {answer.message}; does the server take {field}?")
        text = answer if isinstance(answer, str) else answer.text
        if text != PROBE_ANSWER:
            how = ("use llama.cpp's llama-server, which reads the `grammar` field" if self.dialect == "llama.cpp"
                   else "start vLLM with --structured-outputs-config.backend guidance")
            raise EngineError(f"{self.base_url} does not enforce grammars (asked for {PROBE_ANSWER!r} by a grammar, "
                              f"it answered {text[:40]!r}): {how}")

    def _complete(self, prompt: str, constraint, max_new_tokens: int, sampling: Sampling) -> str | RowFailure:
        body: dict[str, Any] = {"model": self.model, "messages": [{"role": "user", "content": prompt}],
                                "temperature": sampling.temperature, "top_p": sampling.top_p,
                                **self._constraint_fields(constraint_of(constraint))}
        # A format's budget bounds every answer its grammar allows, and is often more than the
        # server's context: then the grammar alone bounds the answer, and the server gives it the
        # room the prompt leaves.
        context = getattr(self, "_context", {}).get(self.model)
        if not (isinstance(context, int) and max_new_tokens >= context):
            body["max_tokens"] = max_new_tokens
        if sampling.seed is not None:
            body["seed"] = sampling.seed
        return self._send(body)

    def _constraint_fields(self, c) -> dict[str, Any]:
        """The request fields that carry the constraint, in the server's dialect."""
        if not isinstance(c, (Grammar, JsonSchema)):
            raise TypeError(f"the OpenAI engine takes grammars and JSON Schemas, not {type(c).__name__}")
        if self.dialect == "vllm":
            return {"structured_outputs": {"grammar": c.lark} if isinstance(c, Grammar) else {"json": c.schema}}
        if isinstance(c, JsonSchema):
            return {"json_schema": c.schema}
        if c.tree is None:
            raise EngineError("llama.cpp's server takes GBNF, and this grammar came as Lark text alone: "
                              "use a vLLM server or the local engine")
        try:
            return {"grammar": gbnf(c.tree)}
        except GbnfUnsupported as e:
            raise EngineError(f"llama.cpp's server takes GBNF, which cannot express this format's grammar ({e}): "
                              f"use a vLLM server or the local engine") from None

    def _send(self, body: dict) -> str | RowFailure:
        """The request's answer; a request the server refuses (HTTP 4xx: too long, say) is its row's
        failure, the other rows go on."""
        try:
            reply = self._request("/v1/chat/completions", body)
        except EngineError as e:
            if "max_tokens" in str(e) and "max_tokens" in body:  # more than the prompt leaves room for
                return self._send({k: v for k, v in body.items() if k != "max_tokens"})
            if "HTTP 4" in str(e):
                return RowFailure(str(e), "")
            raise
        return self._answer(reply, body.get("max_tokens"))

    def _answer(self, reply: dict, max_new_tokens: int | None) -> str | RowFailure:
        try:
            choice = reply["choices"][0]
            text = choice["message"]["content"] or ""
        except (KeyError, IndexError, TypeError):
            return RowFailure(f"the server's reply has no answer: {json.dumps(reply)[:200]}", "")
        if choice.get("finish_reason") == "length":
            where = f"the budget of {max_new_tokens} tokens" if max_new_tokens else "the end of its context"
            return RowFailure(f"the server cut the answer at {where}", text)
        return text

    def generate(self, prompts: list[str], constraints: Sequence[Any], max_new_tokens: int,
                 sampling: Sampling) -> list[str | RowFailure]:
        if len(prompts) != len(constraints):
            raise ValueError("one constraint per prompt")
        # Each row its own seed (the session's, from the row's id): the same row, the same request,
        # whatever batch it comes in.
        if sampling.row_seeds is not None:
            seeds: list[int | None] = list(sampling.row_seeds)
        else:
            seeds = [None if sampling.seed is None else sampling.seed + i for i in range(len(prompts))]
        pool = ThreadPoolExecutor(max_workers=self.concurrency)
        try:
            futures = [pool.submit(self._complete, p, c, max_new_tokens, Sampling(sampling.temperature,
                                                                                    sampling.top_p, s))
                       for p, c, s in zip(prompts, constraints, seeds)]
            return [f.result() for f in futures]
        finally:  # on an error or Ctrl-C, requests not yet sent are dropped rather than waited for
            pool.shutdown(wait=False, cancel_futures=True)


def _error_text(e) -> str:
    try:
        body = json.loads(e.read().decode("utf-8"))
        message = body.get("error", {}).get("message") if isinstance(body.get("error"), dict) else body.get("message")
        return str(message or body)[:300]
    except Exception:  # an error page that is not JSON: its status says enough
        return e.reason if isinstance(e.reason, str) else "error"


def api_key_from(env: str | None) -> str | None:
    """The API key from the environment variable named, where one is named (never a flag value:
    a key on a command line ends up in shell histories and process lists)."""
    if not env:
        return None
    key = os.environ.get(env)
    if not key:
        raise EngineError(f"--api-key-env {env}: that environment variable is not set")
    return key

"""A stand-in for an OpenAI-compatible server (vLLM's request fields, or llama.cpp's), for tests
of the openai engine: it really enforces the grammar each request sends (answers sampled under
it by llguidance, byte by byte, seeded by the request's seed; a llama.cpp GBNF grammar read
back by support/gbnf_reader.py), or misbehaves as a test asks."""
from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np


class FakeServer:
    """`mode`: "enforce" (the default), "ignore" (answers "Hello!" whatever the constraint),
    "cut" (answers cut at the budget), "cheat" (an ungrounded tuple where the grammar is not the
    probe's), "flaky" (the first `failures` requests get HTTP 503)."""

    def __init__(self, mode: str = "enforce", model: str = "smollm2", failures: int = 0,
                 max_model_len: int | None = None, dialect: str = "vllm"):
        from llguidance import LLTokenizer, TokenizerWrapper

        from humdsl.synth.verify import _Bytes

        self.mode = mode
        self.dialect = dialect  # "vllm" or "llama.cpp" (models owned by "llamacpp", GBNF in `grammar`)
        self.model = model
        self.failures = failures
        self.max_model_len = max_model_len  # listed as vLLM does; a request asking past half of it is refused
        self.requests: list[dict] = []
        self.lock = threading.Lock()
        self.lltok = LLTokenizer(TokenizerWrapper(_Bytes()), slices=[])
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> "FakeServer":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def answer(self, body: dict) -> tuple[str, str]:
        """(text, finish_reason) for a chat completion request."""
        from llguidance import LLMatcher

        from humdsl.constraints import sample

        if self.dialect == "llama.cpp":
            from support.gbnf_reader import gbnf_as_lark

            lark = gbnf_as_lark(body["grammar"]) if "grammar" in body else None
            probe = lark is not None and '"humdsl probe' in lark
        else:
            lark = body.get("structured_outputs", {}).get("grammar")
            probe = lark is not None and lark.startswith('start: "humdsl probe')
        if self.mode == "ignore":
            return "Hello!", "stop"
        if self.mode == "cheat" and not probe:
            return "(PER, Zorro the Unseen)", "stop"
        if lark is None:
            return "{}", "stop"
        got = sample(LLMatcher.grammar_from_lark(lark), self.lltok, body.get("max_tokens") or 4096,
                     np.random.default_rng(body.get("seed") or 0))
        if self.mode == "cut" and not probe:
            return got.text[: max(1, len(got.text) // 2)], "length"
        return got.text, "stop" if got.finished else "length"

    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # quiet
                pass

            def _send(self, code: int, payload: dict) -> None:
                data = json.dumps(payload).encode("utf-8")
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                if self.path == "/v1/models" and server.dialect == "llama.cpp":
                    self._send(200, {"data": [{"id": server.model, "object": "model", "owned_by": "llamacpp",
                                               "meta": {"n_ctx": server.max_model_len}}]})
                elif self.path == "/v1/models":
                    self._send(200, {"data": [{"id": server.model, "object": "model",
                                               "max_model_len": server.max_model_len}]})
                else:
                    self._send(404, {"error": {"message": "no such route"}})

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])).decode("utf-8"))
                with server.lock:
                    server.requests.append(body)
                    failing = server.mode == "flaky" and server.failures > 0
                    if failing:
                        server.failures -= 1
                if failing:
                    self._send(503, {"error": {"message": "warming up"}})
                    return
                if body.get("model") != server.model:
                    self._send(404, {"error": {"message": f"model {body.get('model')} does not exist"}})
                    return
                limit = server.max_model_len
                if limit and body.get("max_tokens", 0) > limit // 2:  # as vLLM: prompt + answer past the context
                    self._send(400, {"error": {"message": f"max_tokens={body['max_tokens']} cannot be greater "
                                                          f"than what the prompt leaves of max_model_len={limit}"}})
                    return
                text, finish = server.answer(body)
                self._send(200, {"choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                                              "finish_reason": finish}]})

        return Handler

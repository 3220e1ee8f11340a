"""An on-disk cache of compiled constraints, for the backends where compiling costs seconds
(outlines_core builds a token-level automaton from a regex: 2.5 s for a 15-label NER schema at a
32k vocabulary). llguidance needs none: it compiles lazily inside the matcher, in milliseconds.

An entry is keyed by everything that changes it: the backend and its version, the tokenizer (a
hash of its full serialisation), transformers' version (it turns tokens into strings for the
backend) and the constraint's own text. Each file holds a header with its key and a checksum of
its payload, so a truncated, corrupt or misplaced entry is detected, deleted and rebuilt, never
used. Writes go to a temporary file in the same folder and are renamed into place in one step,
so concurrent runs never see half an entry (two writers of one key write the same bytes; the
last rename wins).

The cache is bounded (`$HUMC_CACHE_MAX_MB`, default 2048): an outlines_core entry can weigh
hundreds of megabytes. After each write the least recently used entries (a hit refreshes an
entry's time) are removed until the rest fit; the entry just written is always kept.

Entries are bytes under a key, so other costly results share the mechanism in folders of their
own: the states of knn's labelled examples (neighbours.anchor_states, `knn/`)."""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ..resources import cache_dir

MAGIC = b"humdsl-constraint-1\n"
DEFAULT_MAX_MB = 2048


def max_bytes_from_env() -> int:
    try:
        mb = float(os.environ.get("HUMC_CACHE_MAX_MB", DEFAULT_MAX_MB))
    except ValueError:
        mb = DEFAULT_MAX_MB  # a malformed setting must not fail a run over an optimisation
    return int(max(mb, 0) * 1024 * 1024)


def entry_key(**parts: str) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode("utf-8")).hexdigest()


def tokenizer_hash(hf_tokenizer) -> str:
    """A hash of the tokenizer's serialisation (vocabulary, merges, added tokens, decoder)."""
    backend = getattr(hf_tokenizer, "backend_tokenizer", None)
    if backend is not None:
        # Padding and truncation are call settings that batched encoding switches on in place,
        # not part of what a token is: the same tokenizer must keep its key after a batch.
        data = json.loads(backend.to_str())
        data.pop("padding", None)
        data.pop("truncation", None)
        text = json.dumps(data, sort_keys=True)
    else:  # a slow tokenizer: its vocabulary is what the backends read
        text = json.dumps(sorted(hf_tokenizer.get_vocab().items()))
    h = hashlib.sha256(text.encode("utf-8"))
    h.update(f"eos={hf_tokenizer.eos_token_id}".encode())
    return h.hexdigest()


@dataclass
class CacheStats:
    hits: int = 0
    misses: int = 0
    corrupt: int = 0  # entries found broken, deleted and rebuilt
    evicted: int = 0  # least recently used entries removed to keep the cache under its bound

    def summary(self) -> str:
        text = f"constraint cache: {self.hits} hit{'s' * (self.hits != 1)}, {self.misses} built"
        text += (f", {self.corrupt} corrupt entr{'ies' if self.corrupt != 1 else 'y'} rebuilt"
                 if self.corrupt else "")
        return text + (f", {self.evicted} old entr{'ies' if self.evicted != 1 else 'y'} removed"
                       if self.evicted else "")


class ConstraintCache:
    def __init__(self, root: Path | None = None, max_bytes: int | None = None):
        self.root = root or cache_dir() / "constraints"
        self.max_bytes = max_bytes_from_env() if max_bytes is None else max_bytes
        self.stats = CacheStats()

    def _path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.bin"

    def get(self, key: str) -> bytes | None:
        path = self._path(key)
        try:
            data = path.read_bytes()
        except OSError:
            return None
        payload = _payload(data, key)
        if payload is None:
            self.stats.corrupt += 1
            try:
                path.unlink()
            except OSError:
                pass  # another run removed or replaced it first
        else:
            try:
                os.utime(path)  # recently used: the last to be evicted
            except OSError:
                pass
        return payload

    def put(self, key: str, payload: bytes) -> None:
        path = self._path(key)
        header = MAGIC + key.encode() + b"\n" + hashlib.sha256(payload).hexdigest().encode() + b"\n"
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
            try:
                with os.fdopen(fd, "wb") as fh:
                    fh.write(header + payload)
                    fh.flush()
                    os.fsync(fh.fileno())
                os.replace(tmp, path)
            except BaseException:
                os.unlink(tmp)
                raise
        except OSError:
            return  # a cache is an optimisation: a read-only or full disk never fails the run
        self._evict(keep=path)

    def _evict(self, keep: Path) -> None:
        """Remove the least recently used entries until the cache fits its bound."""
        entries = []
        for path in self.root.glob("*/*.bin"):
            try:
                st = path.stat()
            except OSError:
                continue  # removed by another run meanwhile
            entries.append((st.st_mtime_ns, st.st_size, path))
        total = sum(size for _, size, _ in entries)
        for _, size, path in sorted(entries):
            if total <= self.max_bytes:
                break
            if path == keep:
                continue
            try:
                path.unlink()
                self.stats.evicted += 1
            except OSError:
                pass  # another run removed it first: it is gone either way
            total -= size

    def get_or_build(self, key: str, build, dump, load):
        """The compiled constraint for `key`: loaded from its entry, or built and stored. An
        entry that passes its checksum but that the backend cannot load is rebuilt too."""
        payload = self.get(key)
        if payload is not None:
            try:
                value = load(payload)
                self.stats.hits += 1
                return value
            except Exception:  # written by another version of the backend's format
                self.stats.corrupt += 1
        value = build()
        self.stats.misses += 1
        self.put(key, dump(value))
        return value


def _payload(data: bytes, key: str) -> bytes | None:
    if not data.startswith(MAGIC):
        return None
    rest = data[len(MAGIC):]
    parts = rest.split(b"\n", 2)
    if len(parts) != 3 or parts[0] != key.encode():
        return None
    payload = parts[2]
    if hashlib.sha256(payload).hexdigest().encode() != parts[1]:
        return None
    return payload

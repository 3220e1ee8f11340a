"""`input text "Sentence"` and `answer "Sentiment"`: the names a prompt shows the input and the
answer by, in the worked examples, before the input, and where a plain document hands over to the
answer (exact decisions with --prompt-style plain, knn and channel documents)."""
import json

import pytest

import humdsl
from humdsl.prompts import PromptChoice, prompt_text

SPEC = """
task sst : classify {
  input text "Sentence" : "A sentence from a film review."
  answer "Sentiment"
  labels { positive negative }
  instruction "Classify the sentence."
  formats bare_label
  example {
    input "a warm , funny film ."
    output positive
  }
  example {
    input "dull and far too long ."
    output negative
  }
}

task plain : classify {
  labels { positive negative }
  instruction "Classify the sentence."
  formats bare_label
}

task reading : qa {
  input question "Query"
  answer "Span"
  instruction "Answer the question."
  formats answer_span
}
"""


@pytest.fixture
def spec(tmp_path):
    path = tmp_path / "named.hum"
    path.write_text(SPEC, encoding="utf-8")
    return humdsl.load(path)


def _examples(ir):
    return [{"input": e["input"], "answer": e["output"]["label"]} for e in ir["examples"]]


def test_the_prompt_shows_the_input_and_the_answer_by_their_names(spec):
    ir = spec.task("sst").ir
    fmt = spec.task("sst").format()
    prompt = prompt_text(ir, fmt, {"text": "a gentle , lovely story ."}, PromptChoice(examples=_examples(ir)))
    assert "Example 1:\nSentence: a warm , funny film .\nSentiment: positive\n" in prompt
    assert prompt.endswith("\nSentence: a gentle , lovely story .\n")
    assert "Text:" not in prompt and "Answer:" not in prompt

    unnamed = spec.task("plain").ir
    shown = prompt_text(unnamed, spec.task("plain").format(), {"text": "x"},
                        PromptChoice(examples=[{"input": {"text": "y"}, "answer": "negative"}]))
    assert "Text: y\nAnswer: negative\n" in shown and shown.endswith("\nText: x\n")

    qa = spec.task("reading")
    asked = prompt_text(qa.ir, qa.format(), {"text": "Ann lives in Oslo.", "question": "Where?"}, PromptChoice())
    assert asked.endswith("\nText: Ann lives in Oslo.\nQuery: Where?\n")  # text keeps its default name


def test_the_names_are_in_the_ir_only_where_declared(spec):
    assert spec.task("sst").ir["answer"] == "Sentiment"
    assert spec.task("sst").ir["inputs"][0] == {"name": "text", "descriptions": ["A sentence from a film review."],
                                                "shown": "Sentence"}
    assert "answer" not in spec.task("plain").ir and "shown" not in spec.task("plain").ir["inputs"][0]


def _session(spec, **settings):
    from humdsl.session import Session, Settings

    return Session(spec.task("sst").ir, Settings(**settings))


def test_plain_documents_hand_over_to_the_answer_by_its_name(spec, model_dir, tmp_path, monkeypatch):
    import humdsl.runtime.decisions as decisions
    import humdsl.runtime.neighbours as neighbours
    from humdsl.runtime.models import load

    loaded = load(str(model_dir))
    row = {"id": "r1", "text": "a gentle , lovely story ."}

    exact = _session(spec, decision="exact", prompt_style="plain")
    exact.start(loaded)
    prompt = exact.prompt(row)
    ids, _ = exact.scorer._ids(prompt, ["positive"])
    assert ids == list(loaded.tokenizer(prompt + "Sentiment:")["input_ids"])

    documents = []
    real_scores = decisions.channel_scores
    monkeypatch.setattr(decisions, "channel_scores",
                        lambda decoder, prefix, branches: documents.append(prefix) or real_scores(decoder, prefix,
                                                                                                   branches))
    channel = _session(spec, decision="channel")
    channel.start(loaded)
    assert channel.decode([row])[0].record is not None
    assert documents[0].startswith("Sentiment: positive\nSentence: a warm , funny film .\n")
    assert documents[0].endswith("\n\nSentiment:")

    pool = tmp_path / "pool.jsonl"
    pool.write_text("".join(json.dumps({"id": f"p{i}", "text": t, "record": {"label": lab}}) + "\n" for i, (t, lab)
                            in enumerate([("good .", "positive"), ("bad .", "negative")])), encoding="utf-8")
    read = []
    real_states = neighbours.states
    monkeypatch.setattr(neighbours, "states", lambda decoder, ids: read.extend(ids) or real_states(decoder, ids))
    knn = _session(spec, decision="knn", shots_from=pool)
    knn.start(loaded)
    assert knn.decode([row])[0].record is not None
    texts = [loaded.tokenizer.decode(x) for x in read]
    assert len(texts) == 3 and all(t.endswith("\nSentiment:") for t in texts)
    assert "\nSentence: good .\nSentiment:" in texts[0] and "\nSentence: a gentle , lovely story .\n" in texts[2]

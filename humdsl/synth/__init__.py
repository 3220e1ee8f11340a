"""humc synth: instruction corpora from labelled datasets, every answer verified (the Hum method).

    policy   the spec's synth block and command-line overrides
    draw     random choices seeded per example (the same in every process and shard)
    sampling what varies between instances: phrasing, label batch, guidelines, rules, format
    gold     the source record made ready to render (labels checked, ordered, offsets dropped)
    verify   the answer against its format's grammar, with llguidance's matcher
    instances  one example -> K verified JSONL lines
    corpus   the streaming, parallel, atomic driver
    report   counts and length distributions, as JSON and charts
"""
from .corpus import SynthError, SynthOptions, SynthSummary, synthesise

__all__ = ["SynthError", "SynthOptions", "SynthSummary", "synthesise"]

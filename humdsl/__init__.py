"""humdsl: declarative NLU tasks compiled to prompts and constrained-decoding programs."""

__version__ = "0.1.0"


def load(path, with_proposed=False):
    """Check and compile a spec file; returns a humdsl.api.Spec (raises SpecError on errors).
    with_proposed: alternatives written `proposed` (not reviewed yet) are used too."""
    from .api import load as _load

    return _load(path, with_proposed)

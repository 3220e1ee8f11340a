"""Running compiled tasks on local models (humc run): model loading, constrained decoding,
resumable output."""

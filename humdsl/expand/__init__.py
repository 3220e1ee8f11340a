"""`humc expand`: a model proposes paraphrases of a task's instructions, guidelines, descriptions
and rules; filters and a meaning check keep the ones that say the same thing; the survivors go
into the spec as `proposed` alternatives, for a person to accept or reject in review.

propose.py (what is asked, under which grammar), filters.py (surface filters), meaning.py (the
task run with and without each proposal), loop.py (a round: propose, filter, check), spec_round.py
(a round on a spec file: the checks that need the file, and writing the survivors into it)."""

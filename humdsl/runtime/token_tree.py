"""Log-probabilities of many continuations of one cached prompt, read as a tree of tokens.

Answers scored one by one share much of their text: every JSON answer starts `{"answer": "`,
and the spans of a passage that start at the same word are prefixes of one another. Each
continuation's tokens are put in a trie; a forward pass reads trie nodes, each seeing the prompt
and its own ancestors only (an attention mask over one row: the prompt's KV cache is read, never
copied), so a shared token is computed once. Tokenization is each continuation's own: nothing
is assumed about how a longer text splits."""
from __future__ import annotations

GROUP_TOKENS = 512  # trie nodes per forward pass at most (their logits: 100 MB on SmolLM2)


class _Trie:
    def __init__(self) -> None:
        self.token: list[int] = []
        self.parent: list[int] = []
        self.depth: list[int] = []
        self.children: list[dict[int, int]] = [{}]  # node 0 is the root (the prompt)

    def path(self, tokens: list[int]) -> list[int]:
        """The nodes of `tokens` (added where missing), root excluded."""
        node = 0
        nodes: list[int] = []
        for tok in tokens:
            child = self.children[node].get(tok)
            if child is None:
                child = len(self.children)
                self.children[node][tok] = child
                self.children.append({})
                self.token.append(tok)
                self.parent.append(node)
                self.depth.append(len(nodes))
            nodes.append(child)
            node = child
        return nodes


def _groups(paths: list[list[int]], limit: int) -> list[list[int]]:
    """Nodes to read per pass: each group holds every node it needs the logits of and their
    ancestors (repeated in a later group where a path is split off), at most `limit` nodes unless
    one path alone is longer."""
    groups: list[list[int]] = []
    current: list[int] = []
    seen: set[int] = set()
    for path in paths:
        needed = path[:-1]  # the last token's logits are not needed
        new = [x for x in needed if x not in seen]
        if current and len(current) + len(new) > limit:
            groups.append(current)
            current, seen = [], set()
            new = list(needed)
        current += new
        seen.update(new)
    return groups + [current] if current else groups


def sequence_logprobs(dec, cache, n: int, sequences: list[list[int]],
                      limit: int = GROUP_TOKENS) -> list[list[float]]:
    """For each token sequence continuing the `n` cached prompt tokens, the log-probability of
    each of its tokens after the first, given the prompt and the tokens before it. The cache is
    left as it was."""
    import torch

    from .jumpforward import _native_gqa
    from .kv_cache import returned_cache

    trie = _Trie()
    paths = [trie.path(s) for s in sequences]
    after: dict[int, float] = {}  # child node -> its token's log-probability after its parent
    for group in _groups(paths, limit):
        index = {node: i for i, node in enumerate(group)}
        m = len(group)
        mask = torch.zeros((1, 1, m, n + m), dtype=torch.bool, device=dec.device)
        mask[..., :n] = True
        for i, node in enumerate(group):
            while node:  # itself and its ancestors; a group holds every ancestor of its nodes
                mask[0, 0, i, n + index[node]] = True
                node = trie.parent[node - 1]
        tokens = [trie.token[node - 1] for node in group]
        positions = [n + trie.depth[node - 1] for node in group]
        with _native_gqa(dec.device):
            out = dec.model(input_ids=torch.tensor([tokens], device=dec.device), attention_mask=mask,
                            position_ids=torch.tensor([positions], device=dec.device), use_cache=True,
                            **{dec.cache_keyword: cache})
        returned_cache(out).crop(-m)
        rows = torch.log_softmax(out.logits[0].float(), -1)
        pairs = [(i, tok, child) for i, node in enumerate(group) for tok, child in trie.children[node].items()
                 if child not in after]
        if pairs:
            values = rows[[i for i, _, _ in pairs], [tok for _, tok, _ in pairs]].tolist()
            after.update((child, v) for (_, _, child), v in zip(pairs, values))
    return [[after[node] for node in path[1:]] for path in paths]

"""An independent reference for scored answers: a full forward pass, no KV cache shared."""


def full_pass(dec, prompt_ids: list[int], answer_ids: list[int]) -> float:
    """The total log-probability of `answer_ids` after `prompt_ids`, from one plain forward pass."""
    import torch

    with torch.no_grad():
        logits = dec.model(torch.tensor([prompt_ids + answer_ids])).logits[0].float()
    lp = torch.log_softmax(logits, -1)
    return sum(float(lp[len(prompt_ids) - 1 + j, t]) for j, t in enumerate(answer_ids))

"""Training compute in FLOPs per token, so a distillation arm and an SFT arm can be given the
same budget rather than the same number of steps.

The estimate is the usual one: a forward pass costs 2 x N FLOPs per token, where N counts the
parameters a token is multiplied by (every weight matrix and the output head, tied or not;
not the embedding lookup), and a backward pass twice that. Attention's term that grows with
context length is left out: at the lengths these estimates are used for (hundreds of tokens,
hidden sizes of 64 and up) it is a few percent, and it scales the same way for both arms.

Per trained token, one optimiser step costs:
- SFT: 3 F_s (the student's forward and backward);
- off-policy distillation: 3 F_s + F_t (plus the teacher's forward on the same tokens);
- on-policy: 3 F_s + F_t + F_s (the student first samples the tokens, one forward each with
  a KV cache);
- mixed: the on-policy share `lmbda` of batches at the on-policy cost, the rest off-policy;
with F = 2 N of the model named.
"""

from __future__ import annotations

from pathlib import Path

MODES = ("sft", "off_policy", "on_policy", "mixed")


def forward_flops_per_token(model_dir: str | Path) -> int:
    """2 N for the causal LM whose config is in `model_dir` (see the module docstring)."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    config = AutoConfig.from_pretrained(str(model_dir))
    with torch.device("meta"):  # shapes only: nothing is allocated or read
        model = AutoModelForCausalLM.from_config(config)
    total = sum(p.numel() for p in model.parameters())  # a tied head is counted once
    embedding = model.get_input_embeddings().weight
    head = model.get_output_embeddings().weight
    multiplied = total - embedding.numel() + (head.numel() if head is embedding else 0)
    return 2 * multiplied


def step_cost(mode: str, student_flops: int, teacher_flops: int, lmbda: float = 0.5) -> float:
    """FLOPs per trained token of one step of `mode` (one of MODES)."""
    sft = 3 * student_flops
    off = sft + teacher_flops
    on = off + student_flops
    costs = {
        "sft": sft,
        "off_policy": off,
        "on_policy": on,
        "mixed": lmbda * on + (1 - lmbda) * off,
    }
    if mode not in costs:
        raise ValueError(f"mode must be one of {', '.join(MODES)}; got {mode!r}")
    return float(costs[mode])


def matched_sft_steps(
    steps: int, mode: str, student: str | Path, teacher: str | Path, lmbda: float = 0.5
) -> int:
    """SFT steps (same batch) costing what `steps` distillation steps of `mode` cost."""
    fs, ft = forward_flops_per_token(student), forward_flops_per_token(teacher)
    return round(steps * step_cost(mode, fs, ft, lmbda) / step_cost("sft", fs, ft))

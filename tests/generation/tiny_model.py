"""Build a tiny local Qwen2 model + tokenizer with a ChatML template that knows <think>.

Importable by test subprocesses (`python tests/generation/tiny_model.py DIR` builds one), so
the crash test and the `vllm serve` tests use the same folder as the in-process tests.
"""

from __future__ import annotations

import sys
from pathlib import Path

CHATML = (
    "{%- for message in messages -%}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ '<|im_start|>assistant\\n' }}{%- endif -%}"
)
# DeepSeek-R1-Distill style: the generation prompt opens the think block.
CHATML_THINK_OPEN = CHATML.replace(
    "{{ '<|im_start|>assistant\\n' }}", "{{ '<|im_start|>assistant\\n<think>\\n' }}"
)
# A template with no generation prompt at all (bad input).
CHATML_NO_GEN = (
    "{%- for message in messages -%}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{%- endfor -%}"
)

CORPUS = [
    "What is 2 + 3? Let me think step by step. 2 plus 3 is 5. The answer is 5.",
    "Compute 12 * 7. Twelve times seven equals 84. So the answer is \\boxed{84}.",
    "user assistant system problem solve the equation x + 4 = 9, x = 5.",
    "The quick brown fox jumps over the lazy dog. Reasoning: first, then, therefore.",
] * 20


def build(
    path: str | Path,
    template: str = CHATML,
    seed: int = 0,
    hidden: int = 64,
    layers: int = 2,
    heads: int = 2,
    kv_heads: int = 1,
    intermediate: int = 128,
    max_len: int = 512,
) -> Path:
    """Write a Qwen2 model (random weights; ~100k parameters by default) and its tokenizer.

    The size arguments let benchmarks build a GPU-sized model without a download.
    """
    from reasoning_distill.toy.models import Arch, init_model
    from reasoning_distill.toy.tokenizer import train_tokenizer

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    tokenizer = train_tokenizer(CORPUS, vocab_size=384)
    tokenizer.chat_template = template
    tokenizer.save_pretrained(str(path))
    arch = Arch(hidden, layers, heads, kv_heads, intermediate, max_len)
    init_model(tokenizer, arch, seed=seed).save_pretrained(str(path))
    return path


if __name__ == "__main__":
    build(sys.argv[1])

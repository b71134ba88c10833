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

SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<think>", "</think>"]

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
    import torch
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
    from transformers import Qwen2Config, Qwen2ForCausalLM, Qwen2Tokenizer
    from transformers.models.qwen2.tokenization_qwen2 import PRETOKENIZE_REGEX

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    # The same pipeline Qwen2Tokenizer rebuilds on load, so ids survive the round trip.
    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(PRETOKENIZE_REGEX), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=384,
        special_tokens=SPECIAL,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(CORPUS, trainer=trainer)
    import json

    merges = [
        tuple(m.split(" ")) if isinstance(m, str) else tuple(m)
        for m in json.loads(tok.to_str())["model"]["merges"]
    ]
    hf_tok = Qwen2Tokenizer(
        vocab=tok.get_vocab(),
        merges=merges,
        unk_token=None,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        bos_token=None,
        additional_special_tokens=SPECIAL[1:],
        padding_side="left",
    )
    hf_tok.chat_template = template
    hf_tok.save_pretrained(str(path))
    vocab = len(hf_tok)
    torch.manual_seed(seed)
    config = Qwen2Config(
        vocab_size=vocab,
        hidden_size=hidden,
        intermediate_size=intermediate,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=kv_heads,
        max_position_embeddings=max_len,
        tie_word_embeddings=True,
        eos_token_id=hf_tok.convert_tokens_to_ids("<|im_end|>"),
        pad_token_id=hf_tok.pad_token_id,
        bos_token_id=None,
    )
    model = Qwen2ForCausalLM(config)
    model.generation_config.eos_token_id = config.eos_token_id
    model.generation_config.pad_token_id = config.pad_token_id
    model.save_pretrained(str(path))
    return path


if __name__ == "__main__":
    build(sys.argv[1])

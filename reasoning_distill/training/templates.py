"""Chat templates for training: TRL's training variants, and the token a turn ends with.

Assistant-only loss needs `{% generation %}` markers around the assistant turns. TRL 1.16
ships training variants of the templates students use (`trl.chat_template_utils`: Qwen2.5,
Qwen3, DeepSeek-R1-Distill, Llama 3, Gemma, Phi-3, ...); a known template is swapped for its
variant, the saved student keeps the original for inference.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def template_text(template: Any) -> str | None:
    if isinstance(template, dict):
        return template.get("default")
    return template


def training_template(tokenizer, chat_template_path: str | None = None):
    """`(template, note, problem)`: the template to train with and what was done to get it.

    A template with `{% generation %}` markers is used as it is; a known one without them is
    swapped for TRL's training variant (`trl.chat_template_utils.get_training_chat_template`);
    an unknown one is a problem that says what to do.
    """
    from trl.chat_template_utils import get_training_chat_template, has_generation_markers

    if chat_template_path:
        path = Path(chat_template_path)
        if path.is_file():
            text = path.read_text()
            if not has_generation_markers(text):
                return (
                    None,
                    None,
                    (
                        f"chat_template_path {path} has no {{% generation %}} markers around the "
                        f"assistant content, so no assistant mask can be built"
                    ),
                )
            return text, f"training with the chat template from {path}", None
    original = template_text(tokenizer.chat_template)
    if not original:
        return (
            None,
            None,
            (
                "the tokenizer has no chat template: set chat_template_path to a .jinja file whose "
                "assistant turns sit inside {% generation %} ... {% endgeneration %}"
            ),
        )
    if has_generation_markers(original):
        return original, None, None
    try:
        variant = get_training_chat_template(tokenizer)
    except ValueError:
        return (
            None,
            None,
            (
                "the chat template has no {% generation %} markers and TRL ships no training variant "
                "of it, so assistant-only loss cannot mask the prompts. Fix: write a copy with "
                "{% generation %} ... {% endgeneration %} around each assistant turn's content and "
                "its end-of-turn token, and set chat_template_path: that.jinja (the saved student "
                "keeps its original template), or set assistant_only_loss: false"
            ),
        )
    if variant is None:
        return original, None, None
    return (
        variant,
        (
            "the chat template has no {% generation %} markers: using TRL's training variant of it "
            "for the loss mask (the saved student keeps its original inference template)"
        ),
        None,
    )


def render(tokenizer, messages, template):
    return tokenizer.apply_chat_template(
        messages,
        tokenize=True,
        return_dict=True,
        return_assistant_tokens_mask=True,
        chat_template=template,
    )


def stop_token_id(tokenizer, template: str) -> int | None:
    """The token an assistant turn ends with inside its mask, when it is a special token.

    Rendered as user, assistant, user: some templates only terminate an assistant turn when a
    message follows it. None when the masked span ends on plain content (no EOS is trained).
    """
    messages = [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "ok"},
        {"role": "user", "content": "bye"},
    ]
    out = render(tokenizer, messages, template)
    added = set(tokenizer.get_added_vocab().values()) | set(tokenizer.all_special_ids)
    masked = [t for t, m in zip(out["input_ids"], out["assistant_masks"], strict=False) if m]
    for token in reversed(masked):
        if tokenizer.decode([token]).strip() == "":
            continue
        return token if token in added else None
    return None

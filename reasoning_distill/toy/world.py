"""Build (or load from cache) the miniature world's toy teacher.

The teacher is a real Qwen2 causal LM trained here on gold traces of the `pretrain` split.
It is cached under the user cache dir, keyed by a hash of its recipe, written to a temporary
folder and renamed into place only when complete, and checked against its recorded
checksums on every load, so a half-written or corrupted cache entry is never reused.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from reasoning_distill.atomic import renamed_into_place
from reasoning_distill.progress import Progress
from reasoning_distill.provenance import file_sha256
from reasoning_distill.toy.models import TEACHER_ARCH, Arch
from reasoning_distill.toy.tasks import TASKS_VERSION

logger = logging.getLogger(__name__)

CACHE_VERSION = 1
MANIFEST = "world.json"


@dataclass(frozen=True)
class TeacherRecipe:
    """Everything that decides the toy teacher; its hash is the cache key."""

    math_problems: int = 6000
    code_problems: int = 1400
    vocab_size: int = 600
    arch: Arch = TEACHER_ARCH
    steps: int = 1000
    batch_size: int = 32
    lr: float = 5e-3
    seed: int = 0
    tasks_version: int = TASKS_VERSION
    version: int = CACHE_VERSION

    def key(self) -> str:
        blob = json.dumps(asdict(self), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]


@dataclass
class Teacher:
    path: Path
    recipe: TeacherRecipe
    meta: dict = field(default_factory=dict)


def cache_root() -> Path:
    """`$RDISTILL_CACHE`, else the platform's user cache dir."""
    env = os.environ.get("RDISTILL_CACHE")
    if env:
        return Path(env)
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("reasoning-distill"))


def _checksums(folder: Path) -> dict[str, str]:
    return {
        p.name: file_sha256(p)
        for p in sorted(folder.iterdir())
        if p.is_file() and p.name != MANIFEST
    }


def check_teacher(folder: Path, recipe: TeacherRecipe) -> str | None:
    """None when `folder` holds a complete teacher for `recipe`, else what is wrong."""
    manifest = folder / MANIFEST
    if not manifest.exists():
        return f"{manifest} is missing (interrupted build?)"
    try:
        meta = json.loads(manifest.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        return f"{manifest} is not valid JSON ({e})"
    if meta.get("key") != recipe.key():
        return f"{manifest} was built for another recipe ({meta.get('key')} != {recipe.key()})"
    expected = meta.get("files", {})
    actual = _checksums(folder)
    if not expected or expected != actual:
        bad = sorted(
            set(expected) ^ set(actual) | {k for k in expected if actual.get(k) != expected[k]}
        )
        return f"{folder}: files missing or changed since the build: {', '.join(bad) or '(none recorded)'}"
    return None


def build_teacher(recipe: TeacherRecipe, folder: Path, progress: Progress | None = None) -> dict:
    """Train the toy teacher and save it (model, tokenizer, manifest) into `folder`."""

    from reasoning_distill.toy.lm_training import encode_chat, train_causal_lm
    from reasoning_distill.toy.models import init_model
    from reasoning_distill.toy.tasks import make_traces
    from reasoning_distill.toy.tokenizer import train_tokenizer

    t0 = time.perf_counter()
    traces = make_traces("math", "pretrain", recipe.math_problems, recipe.seed) + make_traces(
        "code", "pretrain", recipe.code_problems, recipe.seed
    )
    chat_frame = "<|im_start|>user\n<|im_end|>\n<|im_start|>assistant\n"
    texts = [s for t in traces for s in (t.problem.prompt, t.assistant(), chat_frame)]
    tokenizer = train_tokenizer(texts, vocab_size=recipe.vocab_size)
    examples = [encode_chat(tokenizer, t.messages()) for t in traces]
    model = init_model(tokenizer, recipe.arch, seed=recipe.seed)
    # SDPA trains faster here; sampling uses eager (faster for left-padded batches).
    model.config._attn_implementation = "sdpa"
    losses = train_causal_lm(
        model,
        examples,
        steps=recipe.steps,
        batch_size=recipe.batch_size,
        lr=recipe.lr,
        seed=recipe.seed,
        pad_id=tokenizer.pad_token_id,
        progress=progress,
    )
    model.config._attn_implementation = "eager"
    model.save_pretrained(str(folder))
    tokenizer.save_pretrained(str(folder))
    tail = losses[-50:]
    meta = {
        "key": recipe.key(),
        "recipe": asdict(recipe),
        "parameters": sum(p.numel() for p in model.parameters()),
        "train_examples": len(examples),
        "first_loss": losses[0],
        "final_loss": sum(tail) / len(tail),
        "loss_every_50": [
            round(sum(losses[i : i + 50]) / len(losses[i : i + 50]), 4)
            for i in range(0, len(losses), 50)
        ],
        "build_s": round(time.perf_counter() - t0, 1),
        "files": _checksums(folder),
    }
    (folder / MANIFEST).write_text(json.dumps(meta, indent=2))
    return meta


def get_teacher(
    recipe: TeacherRecipe | None = None,
    cache_dir: Path | None = None,
    progress: Progress | None = None,
) -> Teacher:
    """The cached toy teacher for `recipe`, building it first when absent or corrupt."""
    recipe = recipe or TeacherRecipe()
    root = (cache_dir or cache_root()) / "toy-teacher"
    final = root / recipe.key()
    if final.exists():
        problem = check_teacher(final, recipe)
        if problem is None:
            logger.info("using cached toy teacher %s", final)
            return Teacher(final, recipe, json.loads((final / MANIFEST).read_text()))
        logger.warning("cached toy teacher is unusable, rebuilding: %s", problem)
        shutil.rmtree(final)
    root.mkdir(parents=True, exist_ok=True)
    logger.info("building toy teacher %s (about %d steps)", recipe.key(), recipe.steps)
    with renamed_into_place(final) as tmp:
        tmp.mkdir()
        meta = build_teacher(recipe, tmp, progress)
    return Teacher(final, recipe, {**meta, "built_now": True})

"""The data recipe: one YAML file saying what a dataset is made of, validated by a typed schema.

Sections (every key is checked: an unknown key, a wrong type or a missing field is a
`ConfigError` naming the key, the file and its line; types are strict, nothing is coerced):

- `sources`: where problems come from (a Hugging Face dataset id with config, split and
  revision; a local JSONL / Parquet file or a `save_to_disk` folder; or the miniature world),
  the field mapping, slicing and a seeded shuffle, and a `weight` for mixing several sources
  when `mix_total` is set; per-source `verify` overrides;
- `prompt`: the system prompt, the user templates (R1's default), a chat template file;
- `teacher`: engine, model, engine options (named as `rdistill generate`'s flags) and sampling;
- `verify`: format / math / code options and an optional LLM judge for unparseable answers;
- `select`: rejection sampling: k per problem, shortest / random / all, a pass-rate band, a
  maximum trace length in tokens, `keep: verified | all`;
- `dedupe`: exact (normalised text) and MinHash-LSH near duplicates;
- `decontaminate`: registered eval benchmarks, n-gram sizes, local benchmark files;
- `output`: the folder, Parquet shards, optional `push_to_hub`.

Relative paths resolve against the `root` a caller passes (the CLI: the current folder, or
`--root`).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    ValidationError,
    model_validator,
)

from reasoning_distill.errors import ConfigError

R1_MATH_TEMPLATE = (
    "{problem}\n\nPlease reason step by step, and put your final answer within \\boxed{}."
)
CODE_TEMPLATE = (
    "{problem}\n\nWrite a Python solution. Reply with the code in one ```python code block."
)
RECIPES_DIR = Path(__file__).parent / "recipes"
TEMPLATES_DIR = Path(__file__).parent / "templates"


class _Strict(BaseModel):
    # strict: a value of the wrong type is refused, never coerced (`n: true` is not 1,
    # `enabled: "no"` is not false, `seed: "7"` is not 7); an int is still a float.
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class HubSource(_Strict):
    id: str
    config: str | None = None
    split: str = "train"
    revision: str | None = None


class ToySource(_Strict):
    """Problems of the miniature world (`reasoning_distill.toy.tasks`)."""

    kind: Literal["math", "code"]
    split: Literal["pretrain", "train", "heldout"] = "train"
    n: int = Field(gt=0)
    seed: int = 0


class FieldMap(_Strict):
    """Which input column holds what (`id: null` numbers the rows)."""

    problem: str = "problem"
    answer: str | None = "answer"
    tests: str | None = None
    # "tests": a tests object ({kind: assert|stdio|call, ...}, or its JSON); "apps": APPS /
    # TACO `input_output` JSON ({"inputs": [...], "outputs": [...], "fn_name"?})
    tests_format: Literal["tests", "apps"] = "tests"
    id: str | None = "id"
    kind: str | None = None


class FormatOptions(_Strict):
    enabled: bool = True
    require_think: bool = True


class MathOptions(_Strict):
    timeout_s: float = Field(default=10.0, gt=0)
    include_think: bool = False
    unboxed: Literal["markers", "math_verify"] = "markers"  # answers without a box


class CodeOptions(_Strict):
    timeout_s: float = Field(default=6.0, gt=0)
    # run code even where the sandbox lacks bubblewrap (`verifiers/sandbox_policy.py`); not
    # part of any stage's hash: it changes where code may run, not what a verdict means
    allow_weak_sandbox: StrictBool = Field(default=False, exclude=True)


class JudgeOptions(_Strict):
    """An LLM judge for answers the rule-based verifier cannot parse (OpenAI-compatible)."""

    model: str
    base_url: str
    api_key_env: str = "OPENAI_API_KEY"
    on_reasons: list[str] = ["unparseable_answer", "unparseable_gold", "no_answer"]
    max_tokens: int = Field(default=512, gt=0)
    concurrency: int = Field(default=8, gt=0)


class RayVerifyOptions(_Strict):
    """Run the verify stage in Ray actors (`verification/ray_verify.py`), like `rdistill
    verify --ray`: `address` of a running cluster (None: a local Ray), `actors` (None: one
    per CPU of the cluster)."""

    address: str | None = None
    actors: int | None = Field(default=None, gt=0)


class VerifyOptionsSpec(_Strict):
    format: FormatOptions = FormatOptions()
    math: MathOptions = MathOptions()
    code: CodeOptions = CodeOptions()
    judge: JudgeOptions | None = None
    # where verification runs, not what a verdict means: in no stage's hash (top level only)
    ray: RayVerifyOptions | None = Field(default=None, exclude=True)


class Source(_Strict):
    name: str
    hf: HubSource | None = None
    path: str | None = None
    toy: ToySource | None = None
    fields: FieldMap = FieldMap()
    kind: Literal["math", "code"] = "math"
    offset: int = Field(default=0, ge=0)
    limit: int | None = Field(default=None, gt=0)
    shuffle: bool = False
    seed: int = 0
    weight: float = Field(default=1.0, gt=0)
    template: str | None = None  # overrides the prompt section's template for its kind
    verify: VerifyOptionsSpec | None = None

    @model_validator(mode="after")
    def _ray_at_the_top(self) -> Source:
        if self.verify is not None and self.verify.ray is not None:
            raise ValueError("verify.ray is set in the recipe's top-level verify section only")
        return self

    @model_validator(mode="after")
    def _one_origin(self) -> Source:
        given = [k for k in ("hf", "path", "toy") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(
                f"source {self.name!r} needs exactly one of 'hf', 'path' or 'toy' (got "
                f"{given or 'none'})"
            )
        return self


class PromptSpec(_Strict):
    system: str | None = None
    math_template: str = R1_MATH_TEMPLATE
    code_template: str = CODE_TEMPLATE
    chat_template: str | None = None  # a file (under data_recipes/templates/, or a path)

    @model_validator(mode="after")
    def _templates_take_the_problem(self) -> PromptSpec:
        for name in ("math_template", "code_template"):
            if "{problem}" not in getattr(self, name):
                raise ValueError(f"{name} must contain {{problem}}")
        return self


class EngineOptions(_Strict):
    """Engine options, named as `rdistill generate`'s flags (`--batch-size` is batch_size)."""

    batch_size: int | None = Field(default=None, gt=0)
    dtype: str | None = None
    data_parallel: int | None = Field(default=None, gt=0)
    tensor_parallel: int | None = Field(default=None, gt=0)
    max_model_len: int | None = Field(default=None, gt=0)
    gpu_memory_utilization: float | None = Field(default=None, gt=0, le=1)
    enforce_eager: bool | None = None
    base_url: str | None = None
    api_key_env: str | None = None
    concurrency: int | None = Field(default=None, gt=0)
    request_timeout: float | None = Field(default=None, gt=0)
    max_retries: int | None = Field(default=None, ge=0)


class Sampling(_Strict):
    """`rdistill generate`'s sampling flags; defaults are DeepSeek-R1's."""

    n: int = Field(default=1, gt=0)
    max_tokens: int = Field(default=2048, gt=0)
    temperature: float = Field(default=0.6, ge=0)
    top_p: float = Field(default=0.95, gt=0, le=1)
    top_k: int = -1
    min_p: float = Field(default=0.0, ge=0, lt=1)
    stop: list[str] = []
    seed: int = 0


class Teacher(_Strict):
    engine: Literal["hf", "vllm", "openai"] = "hf"
    model: str
    options: EngineOptions = EngineOptions()
    sampling: Sampling = Sampling()
    format: Literal["jsonl", "parquet"] = "jsonl"


class PassRate(_Strict):
    """Keep problems whose share of verified samples lies in [min, max]."""

    min: float = Field(default=0.0, ge=0, le=1)
    max: float = Field(default=1.0, ge=0, le=1)

    @model_validator(mode="after")
    def _a_band(self) -> PassRate:
        if self.min > self.max:
            raise ValueError(
                f"min {self.min} is above max {self.max}: no problem could pass; need min <= max"
            )
        return self


class Select(_Strict):
    keep: Literal["verified", "all"] = "verified"
    k: int | None = Field(default=None, gt=0)
    choose: Literal["shortest", "random", "all"] = "all"
    seed: int = 0
    pass_rate: PassRate = PassRate()
    max_tokens: int | None = Field(default=None, gt=0)
    answer_only: bool = False


class NearDedupe(_Strict):
    threshold: float = Field(default=0.7, gt=0, le=1)
    num_perm: int = Field(default=128, gt=0)
    ngram: int = Field(default=3, gt=0)


class Dedupe(_Strict):
    exact: bool = True
    near: NearDedupe | None = NearDedupe()


class Decontaminate(_Strict):
    benchmarks: list[str] = []
    ngram_sizes: list[int] = [8, 13]
    data_dir: str | None = None

    @model_validator(mode="after")
    def _known(self) -> Decontaminate:
        from reasoning_distill.eval.benchmarks import list_benchmarks

        known = list_benchmarks()
        bad = [b for b in self.benchmarks if b not in known]
        if bad:
            raise ValueError(f"unknown benchmark(s) {bad}; registered: {known}")
        if any(n < 3 for n in self.ngram_sizes):
            raise ValueError("ngram_sizes must be >= 3 words")
        return self


class PushToHub(_Strict):
    repo_id: str
    private: bool = True
    revision: str | None = None


class Output(_Strict):
    dir: str
    parquet: bool = True
    title: str | None = None
    push_to_hub: PushToHub | None = None


class Recipe(_Strict):
    name: str
    description: str = ""
    sources: list[Source] = Field(min_length=1)
    mix_total: int | None = Field(default=None, gt=0)
    prompt: PromptSpec = PromptSpec()
    teacher: Teacher
    verify: VerifyOptionsSpec = VerifyOptionsSpec()
    select: Select = Select()
    dedupe: Dedupe = Dedupe()
    decontaminate: Decontaminate = Decontaminate()
    output: Output

    @model_validator(mode="after")
    def _unique_names(self) -> Recipe:
        names = [s.name for s in self.sources]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"source names must be unique, repeated: {dupes}")
        return self

    def stage_hash(self, *sections: str) -> str:
        """A hash of the named sections: a stage is redone when what it depends on changes."""
        data = self.model_dump(mode="json")
        blob = json.dumps({s: data[s] for s in sections}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def verify_for(self, source: str) -> VerifyOptionsSpec:
        src = next(s for s in self.sources if s.name == source)
        return src.verify or self.verify


# ---------------------------------------------------------------- loading with line numbers


def _lines(node: Any, path: tuple = (), out: dict | None = None) -> dict[tuple, int]:
    """Map every key path in a YAML node tree to its 1-based line."""
    import yaml

    out = {} if out is None else out
    out.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            key = path + (k.value,)
            out[key] = k.start_mark.line + 1
            _lines(v, key, out)
    elif isinstance(node, yaml.SequenceNode):
        for i, v in enumerate(node.value):
            out[path + (i,)] = v.start_mark.line + 1
            _lines(v, path + (i,), out)
    return out


def _line_of(lines: dict[tuple, int], loc: tuple) -> int | None:
    loc = tuple(loc)
    while loc not in lines and loc:
        loc = loc[:-1]
    return lines.get(loc)


def _describe(err: dict) -> str:
    key = ".".join(
        str(p) for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-"))
    )
    kind = err["type"]
    if kind == "extra_forbidden":
        return f"unknown key {key!r}"
    if kind == "missing":
        return f"missing field {key!r}"
    msg = err["msg"].removeprefix("Value error, ")
    return f"{key or 'recipe'}: {msg}" + (
        f" (got {err['input']!r})"
        if kind not in ("value_error",) and "input" in err and not isinstance(err["input"], dict)
        else ""
    )


def parse_recipe(text: str, where: str = "<recipe>") -> Recipe:
    """Validate recipe YAML text; `ConfigError` names the key, `where` and the line."""
    import yaml

    try:
        node = yaml.compose(text)
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{where}{line}: not valid YAML ({getattr(e, 'problem', e)})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: a recipe is a YAML mapping of sections")
    lines = _lines(node) if node is not None else {}
    try:
        return Recipe.model_validate(data)
    except ValidationError as e:
        errors = e.errors()
        first = errors[0]
        loc = tuple(
            p for p in first["loc"] if not (isinstance(p, str) and p.startswith("function-"))
        )
        line = _line_of(lines, loc)
        raise ConfigError(
            f"{where}:{line or 1}: {_describe({**first, 'loc': loc})}{_the_others(errors[1:])}"
        ) from None


def _the_others(errors: list) -> str:
    """The errors after the first, named (up to three), so one run shows what to fix."""
    if not errors:
        return ""
    named = "; ".join(_describe(err) for err in errors[:3])
    rest = f"; and {len(errors) - 3} more" if len(errors) > 3 else ""
    return f" (and {len(errors)} more: {named}{rest})"


def find_recipe(path: str | Path) -> Path:
    """The recipe file `path` names: a path, or a shipped recipe's name (`gsm8k_r1`)."""
    p = Path(path)
    if not p.exists() and p.parent == Path("."):
        for cand in (RECIPES_DIR / p.name, RECIPES_DIR / f"{p.name}.yaml"):
            if cand.is_file():
                return cand
    if not p.is_file():
        raise ConfigError(f"{path}: no such recipe file (shipped: {shipped_recipes_text()})")
    return p


def load_recipe(path: str | Path) -> Recipe:
    """Read and validate a recipe file (a path, or the name of a shipped recipe)."""
    p = find_recipe(path)
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise ConfigError(f"{p}: not UTF-8 text ({e.reason})") from None
    return parse_recipe(text, str(p))


def shipped_recipes() -> list[Path]:
    return sorted(RECIPES_DIR.glob("*.yaml"))


def shipped_recipes_text() -> str:
    return ", ".join(p.name for p in shipped_recipes())


def resolve_path(value: str, root: Path) -> Path:
    p = Path(value).expanduser()
    return p if p.is_absolute() else root / p


def chat_template_path(prompt: PromptSpec, root: Path) -> Path | None:
    """The chat template file a recipe names (a shipped template's name, or a path)."""
    if prompt.chat_template is None:
        return None
    shipped = TEMPLATES_DIR / prompt.chat_template
    p = shipped if shipped.is_file() else resolve_path(prompt.chat_template, root)
    if not p.is_file():
        raise ConfigError(
            f"prompt.chat_template: no such file {p} (shipped templates are in {TEMPLATES_DIR})"
        )
    return p

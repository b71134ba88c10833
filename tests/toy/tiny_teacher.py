"""The smallest toy teacher recipe the tests build (a few steps on a few problems)."""

from __future__ import annotations

from dataclasses import replace

from reasoning_distill.toy.models import Arch
from reasoning_distill.toy.world import TeacherRecipe

TINY = replace(
    TeacherRecipe(),
    math_problems=120,
    code_problems=40,
    vocab_size=320,
    arch=Arch(hidden_size=32, num_hidden_layers=1),
    steps=8,
    batch_size=8,
)

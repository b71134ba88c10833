"""Trace generation: engines behind one seam, a crash-safe store, and the job that joins them."""

from reasoning_distill.generation.engine import (
    Completion,
    Engine,
    GenerationRequest,
    GenerationResult,
    PartialResultsError,
    SamplingParams,
    StreamingEngine,
)
from reasoning_distill.generation.parsing import split_reasoning

__all__ = [
    "Completion",
    "Engine",
    "GenerationRequest",
    "GenerationResult",
    "PartialResultsError",
    "SamplingParams",
    "StreamingEngine",
    "split_reasoning",
]

"""`rdistill demo`: the whole pipeline, end to end, on the miniature world."""

from reasoning_distill.demo.config import DemoConfig
from reasoning_distill.demo.run import run_demo

__all__ = ["DemoConfig", "run_demo"]

"""reasoning-distill: distil reasoning models into small students.

Generate chain-of-thought traces from a teacher, verify them, build datasets, train students
(SFT, then an optional reverse-KL stage) and report how much of the teacher they recover.
"""

__version__ = "0.1.0"

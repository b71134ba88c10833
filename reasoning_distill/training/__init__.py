"""Training stages: SFT of a student, then an optional reverse-KL stage."""

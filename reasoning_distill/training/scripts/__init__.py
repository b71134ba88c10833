"""The training commands (TRL's `scripts/` pattern): each parses its arguments, runs the
pre-flight once, calls its stage's library function and prints a one-line summary.
`rdistill train STAGE` runs them; so does `accelerate launch -m
reasoning_distill.training.scripts.STAGE`."""

"""The miniature world: procedural tasks, a toy teacher and student built locally."""

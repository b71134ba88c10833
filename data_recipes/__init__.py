"""Dataset recipes and the steps that build verified datasets."""

"""reidkit: unsupervised person re-identification with joint generative and contrastive learning."""

__version__ = "0.1.0"

"""Registry of pretrained language models, their downloads, and the shipped small English LM."""

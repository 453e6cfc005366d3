"""ULMFiT: AWD-LSTM language models and transfer learning for text classification."""

__version__ = "0.1.0"

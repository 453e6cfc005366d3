"""ULMFiT: AWD-LSTM language models and transfer learning for text classification.

    from ulmfit import LanguageModel, TextClassifier
"""

from ulmfit.version import __version__

__all__ = ["LanguageModel", "TextClassifier", "__version__"]


def __getattr__(name: str):
    # Lazy, so that `import ulmfit.train` (used by the vision package) does not load the text stack.
    if name in ("LanguageModel", "TextClassifier"):
        from ulmfit import api

        return getattr(api, name)
    raise AttributeError(f"module 'ulmfit' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | {"LanguageModel", "TextClassifier"})

"""ULMFiT: AWD-LSTM language models and transfer learning for text classification.

    from ulmfit import LanguageModel, TextClassifier
"""

from ulmfit.version import __version__

_LAZY = ("LanguageModel", "TextClassifier", "ClassifierEnsemble", "load_classifier")
__all__ = [*_LAZY, "__version__"]


def __getattr__(name: str):
    # Lazy, so that `import ulmfit.train` (used by the vision package) does not load the text stack.
    if name in _LAZY:
        from ulmfit import api

        return getattr(api, name)
    raise AttributeError(f"module 'ulmfit' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))

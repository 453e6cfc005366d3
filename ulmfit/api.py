"""The high-level Python API: ``LanguageModel`` and ``TextClassifier``."""

from ulmfit.classifier import ClassifierConfig, ClassifierEnsemble, TextClassifier, load_classifier
from ulmfit.language_model import LanguageModel, LMFineTuneConfig, LMPretrainConfig

__all__ = ["LanguageModel", "LMFineTuneConfig", "LMPretrainConfig", "TextClassifier", "ClassifierConfig",
           "ClassifierEnsemble", "load_classifier"]

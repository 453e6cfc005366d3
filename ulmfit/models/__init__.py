"""AWD-LSTM encoder, its regularizers, the language model and the text classifier."""

from ulmfit.models.awd_lstm import AWDLSTM, AWDLSTMConfig, LSTMState
from ulmfit.models.chunked_softmax import linear_cross_entropy
from ulmfit.models.classifier import (
    AWDLSTMClassifier,
    PoolingLinearClassifier,
    build_classifier,
    masked_concat_pool,
)
from ulmfit.models.embedding_dropout import DropoutEmbedding, embedding_dropout
from ulmfit.models.language_model import (
    AWDLSTMLanguageModel,
    LinearDecoder,
    LMLoss,
    build_language_model,
    lm_loss,
)
from ulmfit.models.locked_dropout import LockedDropout, locked_dropout
from ulmfit.models.weight_drop import WeightDropLSTM, single_chunk

__all__ = [
    "AWDLSTM",
    "AWDLSTMClassifier",
    "AWDLSTMConfig",
    "AWDLSTMLanguageModel",
    "DropoutEmbedding",
    "LSTMState",
    "LMLoss",
    "LinearDecoder",
    "LockedDropout",
    "PoolingLinearClassifier",
    "WeightDropLSTM",
    "build_classifier",
    "build_language_model",
    "embedding_dropout",
    "linear_cross_entropy",
    "lm_loss",
    "locked_dropout",
    "masked_concat_pool",
    "single_chunk",
]

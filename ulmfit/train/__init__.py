"""The shared training core: ``Learner`` (fit / fit_one_cycle / fit_stlr, freezing, discriminative
LRs, mixed precision, clipping, checkpoints and exact resume, LR finder, DDP), callbacks and metrics."""

from ulmfit.train.adversarial import AdversarialEmbedding
from ulmfit.train.callbacks import (
    Callback,
    CheckpointCallback,
    CSVLogger,
    EarlyStopping,
    KeepBest,
    MetricsLogger,
    ProgressCallback,
)
from ulmfit.train.checkpoint import load_checkpoint
from ulmfit.train.distributed import is_main_process, setup_distributed
from ulmfit.train.learner import Learner
from ulmfit.train.lr_finder import LRFinderResult
from ulmfit.train.metrics import accuracy, cross_entropy_flat, error_rate, perplexity
from ulmfit.train.mixup import FeatureMixUp, MixUp
from ulmfit.train.optim import adam, sgd
from ulmfit.train.param_groups import spread_lr
from ulmfit.train.precision import PRECISIONS, MixedPrecision
from ulmfit.train.rnn_regularizer import RNNRegularizer, activation_regularization, temporal_activation_regularization
from ulmfit.train.schedules import one_cycle_lr, one_cycle_mom, slanted_triangular_lr
from ulmfit.train.seed import enable_determinism, seed_everything
from ulmfit.train.training_log import Stage, TrainingLog

__all__ = [
    "PRECISIONS",
    "AdversarialEmbedding",
    "CSVLogger",
    "Callback",
    "CheckpointCallback",
    "EarlyStopping",
    "FeatureMixUp",
    "KeepBest",
    "LRFinderResult",
    "Learner",
    "MetricsLogger",
    "MixUp",
    "MixedPrecision",
    "ProgressCallback",
    "RNNRegularizer",
    "Stage",
    "TrainingLog",
    "accuracy",
    "activation_regularization",
    "adam",
    "cross_entropy_flat",
    "enable_determinism",
    "error_rate",
    "is_main_process",
    "load_checkpoint",
    "one_cycle_lr",
    "one_cycle_mom",
    "perplexity",
    "seed_everything",
    "setup_distributed",
    "sgd",
    "slanted_triangular_lr",
    "spread_lr",
    "temporal_activation_regularization",
]

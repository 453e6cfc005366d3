"""Read and write fastai (v1 and v2) AWD-LSTM weights and vocabularies, safely.

Key mapping (ours <- fastai's ``get_language_model(AWD_LSTM, ...)`` state dict; K = layer index)::

    encoder.embedding.weight   <- 0.encoder.weight          (0.encoder_dp.emb.weight is the same tensor)
    encoder.rnns.K.weight_ih   <- 0.rnns.K.module.weight_ih_l0
    encoder.rnns.K.weight_hh   <- 0.rnns.K.weight_hh_l0_raw (v1 files also hold 0.rnns.K.module.weight_hh_l0,
                                                             a dropped copy: ignored when the raw key exists)
    encoder.rnns.K.bias_ih     <- 0.rnns.K.module.bias_ih_l0
    encoder.rnns.K.bias_hh     <- 0.rnns.K.module.bias_hh_l0
    decoder.weight             <- 1.decoder.weight          (tied: equal to the embedding)
    decoder.bias               <- 1.decoder.bias

The same encoder keys are read without the ``0.`` prefix (fastai's ``save_encoder`` files) or with
``0.module.`` (classifier files, whose head ``1.layers.*`` maps to our ``head.layers.*``).

Vocab files (``itos_wt103.pkl``) are pickles; :func:`load_fastai_vocab` reads them with an unpickler that
refuses every global, so a malicious file cannot run code.
"""

from __future__ import annotations

import io
import os
import pickle
import re
from collections.abc import Sequence
from pathlib import Path

import torch

from ulmfit.hub.atomic import atomic_write
from ulmfit.hub.safe_load import why_unreadable
from ulmfit.models.awd_lstm import AWDLSTMConfig

__all__ = [
    "config_from_fastai_state_dict",
    "from_fastai_state_dict",
    "load_fastai_vocab",
    "match_embeddings",
    "read_fastai_weights",
    "save_fastai_vocab",
    "to_fastai_state_dict",
]

StateDict = dict[str, torch.Tensor]

_RNN_KEY = re.compile(r"rnns\.(\d+)\.(weight_hh_l0_raw|module\.weight_ih_l0|module\.weight_hh_l0|"
                      r"module\.bias_ih_l0|module\.bias_hh_l0)$")
_FASTAI_TO_OURS_RNN = {
    "weight_hh_l0_raw": "weight_hh",
    "module.weight_ih_l0": "weight_ih",
    "module.bias_ih_l0": "bias_ih",
    "module.bias_hh_l0": "bias_hh",
}
_OURS_TO_FASTAI_RNN = {v: k for k, v in _FASTAI_TO_OURS_RNN.items()}
# fastai's own order (load_pretrained copies tensors by position, so the order of keys matters)
_FASTAI_RNN_ORDER = ("weight_hh", "weight_ih", "bias_ih", "bias_hh")


def read_fastai_weights(path: str | os.PathLike) -> StateDict:
    """Load a fastai ``.pth`` weights file as a state dict (``torch.load(weights_only=True)``).

    Unwraps ``{'model': state_dict, 'opt': ...}``. Raises ``FileNotFoundError`` / ``ValueError`` naming the
    file when it is missing, cannot be loaded without unpickling arbitrary objects, or holds no tensors.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"fastai weights file not found: {path}")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - torch raises UnpicklingError, RuntimeError, EOFError, ...
        raise ValueError(
            f"cannot load fastai weights {path} safely: {why_unreadable(path, e)}; expected a state dict saved "
            "with torch.save, possibly wrapped as {'model': state_dict}"
        ) from None
    if isinstance(obj, dict) and "model" in obj and isinstance(obj["model"], dict):
        obj = obj["model"]
    if not isinstance(obj, dict) or not obj or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items()
    ):
        raise ValueError(f"{path} does not hold a state dict (a dict of name -> tensor), got {type(obj).__name__}")
    return dict(obj)


def _split_prefix(state: StateDict) -> tuple[str, str | None]:
    """(encoder prefix, head/decoder prefix) of a fastai state dict."""
    for enc_prefix in ("0.module.", "0.", ""):
        if f"{enc_prefix}encoder.weight" in state:
            return enc_prefix, "1."
    raise ValueError(
        "not a fastai AWD-LSTM state dict: no '0.encoder.weight', '0.module.encoder.weight' or "
        f"'encoder.weight' key; keys start with {sorted(state)[:5]}"
    )


def from_fastai_state_dict(state: StateDict) -> StateDict:
    """fastai v1/v2 AWD-LSTM state dict (LM, encoder-only or classifier) -> ours (see the module docstring).

    LM files give ``encoder.*`` + ``decoder.*``; encoder files ``encoder.*``; classifier files
    ``encoder.*`` + ``head.*``. Unknown keys raise a ``ValueError`` listing them.
    """
    enc_prefix, _ = _split_prefix(state)
    out: StateDict = {"encoder.embedding.weight": state[f"{enc_prefix}encoder.weight"]}
    rnn: dict[int, dict[str, torch.Tensor]] = {}
    v1_hh: dict[int, torch.Tensor] = {}
    unknown = []
    for key, value in state.items():
        if key in (f"{enc_prefix}encoder.weight", f"{enc_prefix}encoder_dp.emb.weight"):
            continue
        if key.startswith(enc_prefix) and (m := _RNN_KEY.fullmatch(key[len(enc_prefix):])):
            k, name = int(m.group(1)), m.group(2)
            if name == "module.weight_hh_l0":
                v1_hh[k] = value
            else:
                rnn.setdefault(k, {})[_FASTAI_TO_OURS_RNN[name]] = value
        elif enc_prefix == "0." and key in ("1.decoder.weight", "1.decoder.bias"):
            out[key.replace("1.", "", 1)] = value
        elif enc_prefix == "0.module." and key.startswith("1.layers."):
            out["head." + key[2:]] = value
        else:
            unknown.append(key)
    if unknown:
        raise ValueError(f"unexpected key(s) in the fastai AWD-LSTM state dict: {unknown}")
    if not rnn and not v1_hh:
        raise ValueError("the fastai state dict holds no LSTM layers (no '...rnns.K...' keys)")
    n_layers = max([*rnn, *v1_hh]) + 1
    for k in range(n_layers):
        params = rnn.get(k, {})
        if "weight_hh" not in params and k in v1_hh:  # v1 file without the raw copy
            params["weight_hh"] = v1_hh[k]
        missing = [_OURS_TO_FASTAI_RNN[n] for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh") if n not in params]
        if missing:
            raise ValueError(f"fastai state dict is missing {missing} for LSTM layer {k}")
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            out[f"encoder.rnns.{k}.{name}"] = params[name]
    # decoder/head keys after the encoder, as in our modules
    return {k: out[k] for k in sorted(out, key=lambda k: not k.startswith("encoder."))}


def to_fastai_state_dict(state: StateDict, v1: bool = False) -> StateDict:
    """Our LM (or encoder, or classifier) state dict -> fastai v2 keys, in fastai's order.

    LM -> the 16 keys of ``get_language_model(AWD_LSTM, V)``; classifier -> ``0.module.*`` + ``1.layers.*``;
    a bare encoder (``encoder.*`` only) -> the LM's 14 ``0.*`` encoder keys. ``v1=True`` adds fastai v1's
    ``0.rnns.K.module.weight_hh_l0`` copies.
    """
    if "encoder.embedding.weight" not in state:
        raise ValueError(f"not an AWD-LSTM state dict of this library: no 'encoder.embedding.weight'; "
                         f"keys start with {sorted(state)[:5]}")
    is_clf = any(k.startswith("head.") for k in state)
    prefix = "0.module." if is_clf else "0."
    emb = state["encoder.embedding.weight"]
    out: StateDict = {f"{prefix}encoder.weight": emb, f"{prefix}encoder_dp.emb.weight": emb}
    n_layers = len({k.split(".")[2] for k in state if k.startswith("encoder.rnns.")})
    expected = {"encoder.embedding.weight"}
    for k in range(n_layers):
        for name in _FASTAI_RNN_ORDER:
            out[f"{prefix}rnns.{k}.{_OURS_TO_FASTAI_RNN[name]}"] = state[f"encoder.rnns.{k}.{name}"]
            expected.add(f"encoder.rnns.{k}.{name}")
            if v1 and name == "weight_ih":
                out[f"{prefix}rnns.{k}.module.weight_hh_l0"] = state[f"encoder.rnns.{k}.weight_hh"]
    for key in ("decoder.weight", "decoder.bias"):
        if key in state:
            out["1." + key] = state[key]
            expected.add(key)
    for key, value in state.items():
        if key.startswith("head."):
            out["1." + key[len("head."):]] = value
            expected.add(key)
    unknown = sorted(set(state) - expected)
    if unknown:
        raise ValueError(f"unexpected key(s) in the AWD-LSTM state dict: {unknown}")
    return out


def config_from_fastai_state_dict(state: StateDict, **overrides) -> AWDLSTMConfig:
    """The LM preset with ``emb_sz``, ``n_hid``, ``n_layers`` read from a fastai (or our) state dict."""
    ours = state if "encoder.embedding.weight" in state else from_fastai_state_dict(state)
    n_layers = len({k.split(".")[2] for k in ours if k.startswith("encoder.rnns.")})
    emb_sz = ours["encoder.embedding.weight"].shape[1]
    n_hid = ours["encoder.rnns.0.weight_hh"].shape[1] if n_layers > 1 else emb_sz
    sizes = dict(emb_sz=int(emb_sz), n_hid=int(n_hid), n_layers=n_layers)
    if "decoder.bias" not in ours and "decoder.weight" in ours:
        sizes["out_bias"] = False
    return AWDLSTMConfig.language_model(**{**sizes, **overrides})


class _StringsOnlyUnpickler(pickle.Unpickler):
    """Builds only plain containers and scalars; every global (class, function) is refused."""

    def __init__(self, file, name: str):
        super().__init__(file)
        self._name = name

    def find_class(self, module: str, name: str):
        raise pickle.UnpicklingError(
            f"refusing to load {self._name}: it references {module}.{name}; a fastai vocab must be a plain "
            "pickled list of strings"
        )

    def persistent_load(self, pid):
        raise pickle.UnpicklingError(f"refusing to load {self._name}: it uses persistent ids")


def load_fastai_vocab(path: str | os.PathLike) -> list[str]:
    """Read a fastai vocab pickle (``itos``: a list of str) without running any code from it.

    Also accepts a tuple of str, a ``{token: index}`` dict or an ``{index: token}`` dict (indices 0..n-1).
    Anything else (classes, functions, other objects) raises a ``ValueError`` naming the file.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"fastai vocab file not found: {path}")
    try:
        obj = _StringsOnlyUnpickler(io.BytesIO(path.read_bytes()), str(path)).load()
    except pickle.UnpicklingError as e:
        msg = str(e) if str(path) in str(e) else f"cannot read fastai vocab {path}: not a valid pickle ({e})"
        raise ValueError(msg) from e
    except Exception as e:
        raise ValueError(f"cannot read fastai vocab {path}: not a valid pickle ({type(e).__name__}: {e})") from e
    bad = ValueError(
        f"{path} is not a fastai vocab: expected a list of strings (or a str->int / int->str dict), "
        f"got {type(obj).__name__}"
    )
    if isinstance(obj, (list, tuple)):
        if not all(isinstance(t, str) for t in obj):
            raise bad
        return list(obj)
    if isinstance(obj, dict) and obj:
        items = list(obj.items())
        if all(isinstance(k, str) and type(v) is int for k, v in items):
            by_index = {v: k for k, v in items}
        elif all(type(k) is int and isinstance(v, str) for k, v in items):
            by_index = dict(items)
        else:
            raise bad
        if sorted(by_index) != list(range(len(obj))):
            raise ValueError(f"{path}: the vocab dict's indices are not exactly 0..{len(obj) - 1}")
        return [by_index[i] for i in range(len(obj))]
    raise bad


def save_fastai_vocab(itos: Sequence[str], path: str | os.PathLike) -> None:
    """Write ``itos`` as fastai does (a pickled list of str, read by fastai's ``load_pretrained``)."""
    itos = list(itos)
    bad = [t for t in itos if not isinstance(t, str)][:3]
    if bad:
        raise ValueError(f"itos must hold only strings, got e.g. {bad!r}")
    atomic_write(path, lambda f: pickle.dump(itos, f, protocol=4))


_EMBEDDING_LAYOUTS = (
    # (embedding key, keys tied to it, decoder bias key)
    ("encoder.embedding.weight", ("decoder.weight",), "decoder.bias"),
    ("0.encoder.weight", ("0.encoder_dp.emb.weight", "1.decoder.weight"), "1.decoder.bias"),
    ("0.module.encoder.weight", ("0.module.encoder_dp.emb.weight",), None),
    ("encoder.weight", ("encoder_dp.emb.weight",), None),
)


def match_embeddings(state: StateDict, old_itos: Sequence[str], new_itos: Sequence[str]) -> StateDict:
    """Re-index the embedding (and decoder weight/bias) of ``state`` from ``old_itos`` to ``new_itos``.

    As fastai's ``match_embeds``: a token of ``new_itos`` found in ``old_itos`` (by string; the last
    occurrence wins) keeps its row and bias; a new token gets the mean of all old rows and the mean old
    bias. Works on our keys or fastai's. Returns a new dict; tied keys hold the same new tensor.
    """
    layout = next((lay for lay in _EMBEDDING_LAYOUTS if lay[0] in state), None)
    if layout is None:
        raise ValueError(f"no embedding in the state dict (looked for {[lay[0] for lay in _EMBEDDING_LAYOUTS]})")
    emb_key, tied_keys, bias_key = layout
    old_emb = state[emb_key]
    if old_emb.size(0) != len(old_itos):
        raise ValueError(f"old_itos has {len(old_itos)} tokens but {emb_key} has {old_emb.size(0)} rows")
    old_index = {tok: i for i, tok in enumerate(old_itos)}
    idx = torch.tensor([old_index.get(tok, -1) for tok in new_itos], dtype=torch.long)
    found = idx >= 0
    new_emb = old_emb.mean(0, keepdim=True).expand(len(new_itos), -1).clone()
    new_emb[found] = old_emb[idx[found]]
    out = dict(state)
    out[emb_key] = new_emb
    for key in tied_keys:
        if key in out:
            out[key] = new_emb
    if bias_key is not None and bias_key in state:
        old_bias = state[bias_key]
        new_bias = old_bias.mean().expand(len(new_itos)).clone()
        new_bias[found] = old_bias[idx[found]]
        out[bias_key] = new_bias
    return out

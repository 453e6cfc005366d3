"""Every warning the toolkit raises names the user's file and line, whatever the call path."""

from __future__ import annotations

import sys
import warnings

import torch

from ulmfit.data.sources import DataWarning, load_source
from ulmfit.models.weight_drop import WeightDropLSTM
from ulmfit.user_warning import warn


def _caught(call):
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        call()
    assert seen, "no warning was raised"
    return seen


def test_a_direct_call_points_at_the_calling_line():
    def call():
        warn("hello", DataWarning)  # the line the warning must name

    (w,) = _caught(call)
    assert w.category is DataWarning and str(w.message) == "hello"
    assert w.filename == __file__ and w.lineno == call.__code__.co_firstlineno + 1


def test_a_data_warning_deep_in_a_loader_names_the_users_line(tmp_path):
    path = tmp_path / "data.csv"
    path.write_text("text,label\ngood,pos\n,neg\n")
    seen = _caught(lambda: load_source(path, on_missing="drop"))
    assert [(w.filename, w.category) for w in seen] == [(__file__, DataWarning)]


def test_a_warning_inside_a_module_forward_skips_torchs_frames(monkeypatch):
    from ulmfit.models import weight_drop

    real = weight_drop._fused_lstm

    def refuse_bf16(x, hx, weights, training):
        if torch.is_autocast_enabled("cpu"):
            raise RuntimeError("could not create a primitive descriptor for the LSTM forward propagation primitive")
        return real(x, hx, weights, training)

    monkeypatch.setattr(weight_drop, "_fused_lstm", refuse_bf16)
    weight_drop.cpu_bf16_lstm_runs.cache_clear()
    layer = WeightDropLSTM(3, 4)
    state = (torch.zeros(1, 2, 4), torch.zeros(1, 2, 4))

    def call():
        with torch.autocast("cpu", dtype=torch.bfloat16):
            layer(torch.zeros(2, 5, 3), state)

    try:
        (w,) = _caught(call)
    finally:
        weight_drop.cpu_bf16_lstm_runs.cache_clear()
    assert "no bfloat16 LSTM kernel" in str(w.message)
    assert w.filename == __file__  # not torch/nn/modules/module.py


def test_the_outermost_frame_when_every_frame_is_internal(monkeypatch):
    from ulmfit import user_warning

    monkeypatch.setattr(user_warning, "_internal", lambda filename: True)
    frame = sys._getframe()
    while frame.f_back is not None:
        frame = frame.f_back
    (w,) = _caught(lambda: warn("x"))
    assert (w.filename, w.lineno) == (frame.f_code.co_filename, frame.f_lineno)

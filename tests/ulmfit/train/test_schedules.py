import math

import pytest

from ulmfit.train.schedules import one_cycle_lr, one_cycle_mom, slanted_triangular_lr


def _cos(a, b, pos):
    return b + (a - b) * (1 + math.cos(math.pi * pos)) / 2


@pytest.mark.parametrize("total", [100, 37])
def test_one_cycle_lr_matches_formula(total):
    lr, pct, div, div_final = 1e-2, 0.25, 25.0, 1e5
    assert one_cycle_lr(0, total, lr, pct, div, div_final) == pytest.approx(lr / div)
    # the peak is at pos == pct_start
    peak = round(total * pct)
    if peak / total == pct:
        assert one_cycle_lr(peak, total, lr) == pytest.approx(lr)
    assert one_cycle_lr(total, total, lr) == pytest.approx(lr / div_final)
    for t in (1, total // 8, total // 2, total - 1):
        pos = t / total
        if pos < pct:
            want = _cos(lr / div, lr, pos / pct)
        else:
            want = _cos(lr, lr / div_final, (pos - pct) / (1 - pct))
        assert one_cycle_lr(t, total, lr) == pytest.approx(want, rel=1e-12)
    # rises then falls
    values = [one_cycle_lr(t, total, lr) for t in range(total)]
    top = max(range(total), key=values.__getitem__)
    assert all(a <= b for a, b in zip(values[:top], values[1 : top + 1]))
    assert all(a >= b for a, b in zip(values[top:], values[top + 1 :]))


def test_one_cycle_momentum_cycles():
    moms, total = (0.95, 0.85, 0.95), 100
    assert one_cycle_mom(0, total, moms) == pytest.approx(0.95)
    assert one_cycle_mom(25, total, moms) == pytest.approx(0.85)
    assert one_cycle_mom(100, total, moms) == pytest.approx(0.95)
    assert one_cycle_mom(10, total, moms) == pytest.approx(_cos(0.95, 0.85, 10 / 25))
    assert one_cycle_mom(60, total, moms) == pytest.approx(_cos(0.85, 0.95, 35 / 75))
    assert one_cycle_mom(12, total, (0.8, 0.7, 0.8)) < 0.8


def _stlr_paper(t, T, lr_max, cut_frac, ratio):
    cut = math.floor(T * cut_frac)
    p = t / cut if t < cut else 1 - (t - cut) / (cut * (1 / cut_frac - 1))
    return lr_max * (1 + p * (ratio - 1)) / ratio


@pytest.mark.parametrize("T", [100, 1000, 57])
def test_stlr_matches_paper(T):
    lr_max, cut_frac, ratio = 0.01, 0.1, 32
    cut = math.floor(T * cut_frac)
    assert slanted_triangular_lr(0, T, lr_max, cut_frac, ratio) == pytest.approx(lr_max / ratio)
    assert slanted_triangular_lr(cut, T, lr_max, cut_frac, ratio) == pytest.approx(lr_max)
    for t in (1, cut // 2, cut + 1, T // 2, T - 1):
        assert slanted_triangular_lr(t, T, lr_max, cut_frac, ratio) == pytest.approx(
            _stlr_paper(t, T, lr_max, cut_frac, ratio)
        )


def test_stlr_short_run_has_no_division_by_zero():
    assert slanted_triangular_lr(0, 5, 1.0, 0.1, 32) == pytest.approx(1.0)
    assert slanted_triangular_lr(4, 5, 1.0, 0.1, 32) < 1.0


def test_schedule_bad_arguments():
    with pytest.raises(ValueError, match="total"):
        one_cycle_lr(0, 0, 1.0)
    with pytest.raises(ValueError, match="step"):
        one_cycle_lr(5, 4, 1.0)
    with pytest.raises(ValueError, match="cut_frac"):
        slanted_triangular_lr(0, 10, 1.0, cut_frac=1.5)

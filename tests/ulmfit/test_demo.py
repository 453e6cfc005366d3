"""``ulmfit demo`` end to end, shrunk: a tiny LM instead of the shipped one, one epoch per stage."""

import pytest

from ulmfit.cli import main


@pytest.fixture(scope="module")
def tiny_bwd_dir(tiny_lm_dir, tmp_path_factory):
    """The tiny LM saved again as a backward model: a stand-in for a registered twin."""
    from ulmfit.language_model import LanguageModel

    lm = LanguageModel.load(tiny_lm_dir)
    lm.meta["backwards"] = True
    folder = tmp_path_factory.mktemp("tiny_lm_bwd")
    lm.save(folder)
    return folder


@pytest.fixture
def with_twin(monkeypatch, tiny_lm_dir, tiny_bwd_dir):
    """Register the tiny pair: ``twin_of(tiny_lm_dir)`` is the backward copy."""
    import ulmfit.hub.registry as registry

    real = registry.twin_of
    monkeypatch.setattr(registry, "twin_of", lambda name: str(tiny_bwd_dir) if name == str(tiny_lm_dir)
                        else real(name))


def test_demo_end_to_end(tiny_lm_dir, tmp_path, capsys):
    out = tmp_path / "demo"
    main(["demo", "--lm", str(tiny_lm_dir), "--out", str(out), "--quick", "--quiet"])
    text = capsys.readouterr().out
    assert "[4/4] results" in text and "accuracy" in text and "predictions:" in text
    # a folder LM has no registered twin: the default falls back to the forward classifier, without a word
    assert "forward + backward ensemble" not in text and "backward classifier" not in text
    assert f"ulmfit predict {out}/classifier" in text
    assert (out / "classifier" / "labels.json").is_file() and (out / "lm" / "model.pt").is_file()
    assert not (out / "ensemble").exists()


def test_demo_ensembles_by_default_when_the_lm_has_a_twin(with_twin, tiny_lm_dir, tiny_bwd_dir, tmp_path, capsys):
    from ulmfit import load_classifier

    out = tmp_path / "demo"
    main(["demo", "--lm", str(tiny_lm_dir), "--out", str(out), "--quick", "--quiet"])
    text = capsys.readouterr().out
    assert f"forward + backward ensemble: {tiny_lm_dir} and {tiny_bwd_dir}" in text
    # 320 labelled reviews: three seeds per language model
    assert "[3/4] training 6 classifiers (3 seeds per language model" in text
    for direction in ("forward", "backward"):
        for seed in (42, 43, 44):
            assert f"{direction} classifier (seed {seed}): accuracy" in text
    assert "ensemble (mean of the 6 classifiers' probabilities)" in text
    assert f"ulmfit predict {out}/ensemble" in text
    assert (out / "backward" / "lm" / "model.pt").is_file() and not (out / "classifier").exists()
    page = (out / "ensemble" / "report.html").read_text()
    assert 'href="member-5/report.html"' in page and 'id="confusion"' in page
    ens = load_classifier(out / "ensemble")
    assert [m.backwards for m in ens.models] == [False] * 3 + [True] * 3


def test_no_ensemble_trains_the_forward_classifier_only(with_twin, tiny_lm_dir, tmp_path, capsys):
    out = tmp_path / "demo"
    main(["demo", "--lm", str(tiny_lm_dir), "--out", str(out), "--quick", "--quiet", "--no-ensemble"])
    text = capsys.readouterr().out
    assert "forward + backward ensemble" not in text and "backward classifier" not in text
    assert f"ulmfit predict {out}/classifier" in text
    assert not (out / "backward").exists() and not (out / "ensemble").exists()


def test_ensemble_without_a_twin_is_one_line(tiny_lm_dir, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["demo", "--lm", str(tiny_lm_dir), "--out", str(tmp_path / "demo"), "--quick", "--quiet", "--ensemble"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--ensemble needs a registered LM with a backward twin" in err[0]
    assert not (tmp_path / "demo").exists()

"""``ulmfit demo`` end to end, shrunk: a tiny LM instead of the shipped one, one epoch per stage."""

from ulmfit.cli import main


def test_demo_end_to_end(tiny_lm_dir, tmp_path, capsys):
    out = tmp_path / "demo"
    main(["demo", "--lm", str(tiny_lm_dir), "--out", str(out), "--quick", "--quiet"])
    text = capsys.readouterr().out
    assert "[4/4] results" in text and "accuracy" in text and "predictions:" in text
    assert f"ulmfit predict {out}/classifier" in text
    assert (out / "classifier" / "labels.json").is_file() and (out / "lm" / "model.pt").is_file()

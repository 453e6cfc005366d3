"""The HTML training report: structure (sections, charts, tables) checked by parsing the page, values
checked against the inputs, and the page kept self-contained (no scripts, no network)."""

import math
import re
import xml.etree.ElementTree as ET

import pytest

from ulmfit.errors import UsageError
from ulmfit.report import render_lr_find, render_report, svg_line_chart, write_report

DATE = "2024-05-01 12:00"
CLASSES = ["<b>&x", "beta", "gamma"]
CM = [[5, 1, 0], [2, 7, 1], [0, 3, 9]]


def _run(n_stages=2, epochs_per_stage=(1, 2), steps_per_epoch=10):
    """A small gradual-unfreezing history: per-step rows (every step kept) and per-epoch rows."""
    names = ["head only", "all layers", "third", "fourth"]
    epochs, steps, g = [], [], 0
    for si in range(n_stages):
        for e in range(epochs_per_stage[si]):
            for b in range(steps_per_epoch):
                g += 1
                steps.append({"stage": names[si], "stage_index": si, "step": g, "lr": 1e-3 * (1 + b) / steps_per_epoch,
                              "loss": 2.0 / (1 + g / 10)})
            epochs.append({"stage": names[si], "stage_index": si, "epoch": e + 1, "step": g, "lr": 1e-3 / (si + 1),
                           "train_loss": 2.0 / (1 + g / 10), "valid_loss": 1.9 / (1 + g / 10),
                           "accuracy": 0.5 + 0.1 * len(epochs), "time": 75.0})
    return epochs, steps


def _evaluation():
    per_class = {c: {"precision": 0.5 + 0.1 * i, "recall": 0.6, "f1": 0.55 + 0.1 * i, "support": sum(CM[i])}
                 for i, c in enumerate(CLASSES)}
    return {"accuracy": 21 / 28, "macro_f1": 0.65, "per_class": per_class, "confusion_matrix": CM,
            "classes": CLASSES, "n": 28}


def _report(**overrides):
    epochs, steps = _run()
    kwargs = dict(title="TREC <test>", kind="classifier", epochs=epochs, steps=steps,
                  config={"lr": 0.01, "schedule": {"moms": [0.8, 0.7], "div": 2.6}, "note": "<i>hi</i>"},
                  data={"train documents": 5452, "validation": "hold-out 10%"}, evaluation=_evaluation(),
                  summary={"validation accuracy": 0.912345, "time": 751.0}, date=DATE)
    kwargs.update(overrides)
    return render_report(**kwargs)


def _parse(page: str) -> ET.Element:
    return ET.fromstring(page)  # the page is well-formed XML by design


def _section(root: ET.Element, sid: str) -> ET.Element:
    found = [e for e in root.iter("section") if e.get("id") == sid]
    assert len(found) == 1, f"expected one section {sid!r}, found {len(found)}"
    return found[0]


def _series(svg: ET.Element, name: str) -> ET.Element:
    found = [g for g in svg.iter("g") if g.get("class") == "series" and g.get("data-series") == name]
    assert len(found) == 1, [g.get("data-series") for g in svg.iter("g") if g.get("class") == "series"]
    return found[0]


def _polyline_points(group: ET.Element) -> list[list[tuple[float, float]]]:
    return [[tuple(map(float, p.split(","))) for p in pl.get("points").split()] for pl in group.iter("polyline")]


def _text(e: ET.Element) -> str:
    return "".join(e.itertext()).strip()


def _ticks(svg: ET.Element, axis: str, cls: str = "major") -> list[float]:
    ax = next(g for g in svg.iter("g") if g.get("class") == f"axis {axis}")
    return [float(g.get("data-value")) for g in ax.iter("g") if g.get("class") == f"tick {cls}"]


# --- the page ------------------------------------------------------------------------------------------

def test_sections_in_order_and_page_self_contained():
    page = _report()
    root = _parse(page)
    ids = [s.get("id") for s in root.iter("section")]
    assert ids == ["loss", "metrics", "lr", "epochs", "evaluation", "confusion", "per-class", "config", "data"]
    assert "<script" not in page.lower() and "http://" not in page and "https://" not in page
    assert "<link" not in page and "@import" not in page and "<img" not in page
    assert set(re.findall(r"url\(([^)]*)\)", page)) <= {f"#{c.get('id')}" for c in root.iter("clipPath")}
    # Headline figures: 4 significant digits; seconds as m:ss.
    figures = [_text(f) for f in root.iter("div") if f.get("class") == "figure"]
    assert "0.9123validation accuracy" in figures and "12:31time" in figures
    assert "classifier" in _text(next(root.iter("p"))).lower() and DATE in page


def test_same_inputs_give_the_same_page_and_write_report_writes_it(tmp_path):
    assert _report() == _report()
    epochs, steps = _run()
    kwargs = dict(title="t", kind="vision", epochs=epochs, steps=steps, config={}, data={}, date=DATE)
    path = write_report(tmp_path / "sub" / "report.html", **kwargs)
    assert path == tmp_path / "sub" / "report.html"
    assert path.read_text(encoding="utf-8") == render_report(**kwargs)


def test_unknown_kind_is_rejected_with_the_options():
    with pytest.raises(UsageError, match=r"kind must be one of classifier, language_model, vision; got 'lm'"):
        _report(kind="lm")


def test_user_strings_are_escaped():
    page = _report(data={"<script>bad</script>": "a & b"})
    assert "<b>&x" not in page and "&lt;b&gt;&amp;x" in page
    assert "<i>hi</i>" not in page and "<script>bad" not in page
    root = _parse(page)
    assert root.find("head/title").text == "TREC <test>"
    headers = [_text(th) for th in _section(root, "confusion").iter("th")]
    assert "<b>&x" in headers
    data_keys = [_text(td) for td in _section(root, "data").iter("td") if td.get("class") == "key"]
    assert data_keys == ["<script>bad</script>"]


# --- charts ----------------------------------------------------------------------------------------------

def test_loss_chart_draws_every_point_and_breaks_the_running_mean_at_epoch_ends():
    epochs, steps = _run()
    svg = _section(_parse(_report()), "loss").find(".//svg")
    running = _series(svg, "train loss (running mean per step)")
    runs = _polyline_points(running)
    assert len(runs) == len(epochs)  # the mean restarts every epoch: one unbroken run per epoch
    assert [len(r) for r in runs] == [10, 10, 10] and int(running.get("data-n")) == len(steps)
    for name in ("train loss (epoch)", "valid loss (epoch)"):
        group = _series(svg, name)
        assert sum(len(r) for r in _polyline_points(group)) == len(epochs)
        assert len(group.findall("circle")) == len(epochs)
    # x increases with the step and a lower loss is drawn lower (larger y) on the page.
    pts = [p for r in runs for p in r]
    assert all(b[0] > a[0] for a, b in zip(pts, pts[1:]))
    assert pts[-1][1] > pts[0][1]


def test_stage_bands_are_labelled_and_cover_their_steps_in_every_chart():
    root = _parse(_report())
    for sid in ("loss", "metrics", "lr"):
        svg = _section(root, sid).find(".//svg")
        bands = [g for g in svg.iter("g") if g.get("class") == "band"]
        assert [b.get("data-label") for b in bands] == ["head only", "all layers"]
        assert [_text(b.find("text")) for b in bands] == ["head only", "all layers"]
        fills = [b.find("rect").get("fill") for b in bands]
        assert fills[0] != fills[1]  # alternating
        # the first band (steps 0..10) is a third as wide as the second (10..30)
        w0, w1 = (float(b.find("rect").get("width")) for b in bands)
        assert w1 == pytest.approx(2 * w0, abs=0.2)


def test_metric_and_lr_charts():
    epochs, steps = _run()
    root = _parse(_report())
    metrics_svg = _section(root, "metrics").find(".//svg")
    acc = _series(metrics_svg, "accuracy")
    assert len(acc.findall("circle")) == len(epochs)
    assert "accuracy at optimizer step 30: 0.7" in [_text(c.find("title")) for c in acc.findall("circle")]
    lr_svg = _section(root, "lr").find(".//svg")
    assert sum(len(r) for r in _polyline_points(_series(lr_svg, "learning rate (top group)"))) == len(steps)
    ticks = _ticks(lr_svg, "y-axis")
    assert ticks == pytest.approx([1e-4, 1e-3])  # lrs span 1e-4 .. 1e-3
    assert all(float(math.log10(t)).is_integer() for t in ticks)


def test_perplexity_gets_its_own_log_chart_with_a_readable_range():
    epochs = [{"stage": "pretrain", "stage_index": 0, "epoch": i + 1, "step": 100 * (i + 1), "lr": 1e-3,
               "train_loss": 4.8 - 0.1 * i, "valid_loss": 4.7 - 0.1 * i, "perplexity": math.exp(4.7 - 0.1 * i),
               "accuracy": 0.3} for i in range(3)]
    root = _parse(render_report(title="lm", kind="language_model", epochs=epochs, steps=[], config={}, data={},
                                date=DATE))
    svgs = _section(root, "metrics").findall(".//svg")
    assert len(svgs) == 2  # one for [0, 1] metrics, one for perplexity
    ppl = next(s for s in svgs if any(g.get("data-series") == "perplexity" for g in s.iter("g")))
    labelled = _ticks(ppl, "y-axis", "major") + _ticks(ppl, "y-axis", "minor")
    # Data 90..110: the axis hugs it (no flat line in a 10..1000 decade) and its major tick is 100.
    assert _ticks(ppl, "y-axis", "major") == [100.0]
    assert min(labelled) >= 80 and max(labelled) <= 130 and len(labelled) >= 3
    assert "id=\"confusion\"" not in ET.tostring(root, encoding="unicode")


def test_log_axis_over_decades_has_ticks_at_powers_of_ten_only():
    svg = ET.fromstring(svg_line_chart({"lr": [(i, 10 ** (-5 + i / 10)) for i in range(31)]}, x_label="step",
                                       y_label="lr", log_y=True))
    assert _ticks(svg, "y-axis") == pytest.approx([1e-5, 1e-4, 1e-3, 1e-2])
    assert _ticks(svg, "y-axis", "minor") == []
    labels = [_text(g.find("text")) for g in svg.iter("g") if g.get("class") == "tick major"][:4]
    assert labels == ["10⁻⁵", "10⁻⁴", "10⁻³", "10⁻²"]  # one notation per axis, not "0.001" beside "1e-4"


def test_linear_ticks_are_round_and_cover_the_data():
    svg = ET.fromstring(svg_line_chart({"a": [(0, 0.31), (1, 1.77)]}, x_label="x", y_label="y"))
    ticks = _ticks(svg, "y-axis")
    assert 4 <= len(ticks) <= 7 and ticks[0] <= 0.31 and ticks[-1] >= 1.77
    step = ticks[1] - ticks[0]
    mantissa = step / 10 ** math.floor(math.log10(step))
    assert round(mantissa, 6) in (1, 2, 2.5, 5)


def test_nan_and_missing_values_show_a_dash_and_are_not_plotted():
    epochs, steps = _run()
    epochs[1]["valid_loss"] = float("nan")
    epochs[2]["accuracy"] = None
    epochs[0]["time"] = float("inf")
    steps[3]["loss"] = float("nan")
    root = _parse(_report(epochs=epochs, steps=steps))
    rows = [[_text(c) for c in tr if c.tag == "td"] for tr in _section(root, "epochs").iter("tr")][1:]
    # columns: epoch, step, lr, train loss, valid loss, accuracy, time
    assert rows[1][4] == "–" and rows[2][5] == "–" and rows[0][6] == "–"
    assert rows[1][3] != "–"
    svg = _section(root, "loss").find(".//svg")
    assert len(_series(svg, "valid loss (epoch)").findall("circle")) == 2
    running = _polyline_points(_series(svg, "train loss (running mean per step)"))
    assert [len(r) for r in running] == [3, 6, 10, 10]  # the NaN step is a gap, not a point


def test_all_nan_losses_and_no_steps_give_no_data_notes():
    epochs = [{"stage": "s", "stage_index": 0, "epoch": 1, "step": 5, "lr": None, "train_loss": float("nan"),
               "valid_loss": None}]
    root = _parse(render_report(title="t", kind="classifier", epochs=epochs, steps=[], config={}, data={},
                                date=DATE))
    for sid in ("loss", "metrics", "lr"):
        sec = _section(root, sid)
        assert sec.find(".//svg") is None
        assert [p.get("class") for p in sec.iter("p")] == ["note no-data"]
    assert [_text(td) for td in _section(root, "epochs").iter("td")][2:5] == ["–", "–", "–"]


def test_a_single_epoch_without_steps_plots_single_points():
    epochs = [{"stage": "pretrain", "stage_index": 0, "epoch": 1, "step": 120, "lr": 2e-3, "train_loss": 4.2,
               "valid_loss": 4.0, "perplexity": 54.6}]
    root = _parse(render_report(title="t", kind="language_model", epochs=epochs, steps=[], config={}, data={},
                                date=DATE))
    loss = _section(root, "loss").find(".//svg")
    assert [len(r) for r in _polyline_points(_series(loss, "valid loss (epoch)"))] == [1]
    assert len(_series(loss, "valid loss (epoch)").findall("circle")) == 1
    lr = _section(root, "lr").find(".//svg")
    assert len(_series(lr, "learning rate at epoch end").findall("circle")) == 1  # no steps: per-epoch lr


# --- tables ----------------------------------------------------------------------------------------------

def test_epoch_table_groups_rows_by_stage_and_formats_numbers():
    root = _parse(_report())
    table = _section(root, "epochs").find(".//table")
    assert [_text(th) for th in table.find("thead").iter("th")] == [
        "stage", "epoch", "step", "lr", "train loss", "valid loss", "accuracy", "time"]
    bodies = table.findall("tbody")
    assert [_text(b.find("tr/th")) for b in bodies] == ["head only", "all layers"]
    assert [b.find("tr/th").get("rowspan") for b in bodies] == ["1", "2"]
    second = [_text(td) for td in bodies[1].findall("tr")[0].findall("td")]
    assert second == ["1", "20", "5.00e-04", "0.6667", "0.6333", "0.6", "1:15"]


def test_confusion_matrix_has_n_by_n_cells_with_counts_and_row_shading():
    sec = _section(_parse(_report()), "confusion")
    table = sec.find(".//table")
    head = [_text(th) for th in table.find("thead").iter("th")]
    assert head == ["true \\ predicted", *CLASSES, "total"]
    rows = table.find("tbody").findall("tr")
    assert [_text(r.find("th")) for r in rows] == CLASSES
    cells = [[td for td in r.findall("td") if "cm-cell" in td.get("class")] for r in rows]
    assert [[int(_text(td)) for td in row] for row in cells] == CM
    for i, row in enumerate(cells):
        for j, td in enumerate(row):
            assert float(td.get("data-frac")) == pytest.approx(CM[i][j] / sum(CM[i]), abs=1e-4)
            assert ("diag" in td.get("class")) == (i == j)
            alpha = float(re.search(r"rgba\([^)]*,([0-9.]+)\)", td.get("style")).group(1))
            assert alpha == pytest.approx(0.9 * CM[i][j] / sum(CM[i]), abs=1e-3)
    totals = [_text(td) for r in rows for td in r.findall("td") if td.get("class") == "total"]
    assert totals == ["6", "10", "12"]


def test_per_class_table_and_macro_average():
    sec = _section(_parse(_report()), "per-class")
    rows = [[_text(c) for c in tr] for tr in sec.find(".//tbody")]
    assert rows[0] == ["<b>&x", "0.5", "0.6", "0.55", "6"]
    assert rows[2] == ["gamma", "0.7", "0.6", "0.75", "12"]
    assert [_text(c) for c in sec.find(".//tfoot/tr")] == ["macro average", "0.6", "0.6", "0.65", "28"]


def test_multi_label_evaluation_has_no_confusion_matrix():
    ev = {"subset_accuracy": 0.5, "hamming_accuracy": 0.875, "macro_f1": 0.6, "n": 40,
          "per_class": {"a": {"precision": 1.0, "recall": 0.5, "f1": 0.6667, "support": 4}}}
    root = _parse(_report(evaluation=ev))
    ids = [s.get("id") for s in root.iter("section")]
    assert "confusion" not in ids and "per-class" in ids
    figures = [_text(f) for f in _section(root, "evaluation").iter("div") if f.get("class") == "figure"]
    assert figures == ["0.5subset accuracy", "0.875hamming accuracy", "0.6macro F1", "40examples"]


def test_config_is_flattened_and_data_uses_thousands_separators():
    root = _parse(_report())
    cfg = dict(zip(*[iter(_text(td) for td in _section(root, "config").iter("td"))] * 2))
    assert cfg == {"lr": "0.01", "schedule.moms": "0.8, 0.7", "schedule.div": "2.6", "note": "<i>hi</i>"}
    data = dict(zip(*[iter(_text(td) for td in _section(root, "data").iter("td"))] * 2))
    assert data == {"train documents": "5,452", "validation": "hold-out 10%"}


# --- lr finder and the chart primitive -------------------------------------------------------------------

def test_lr_find_marks_the_suggestion_at_its_position():
    lrs = [10 ** (-7 + 8 * i / 49) for i in range(50)]
    losses = [3.0 - 0.01 * i for i in range(45)] + [4.0, 8.0, 30.0, float("nan"), float("inf")]
    page = render_lr_find(title="find <lr>", lrs=lrs, losses=losses, suggestion=2.1e-3, lr_min=8.5e-3, date=DATE)
    root = _parse(page)
    assert "<script" not in page and "http" not in page
    svg = _section(root, "lr-find").find(".//svg")
    markers = {float(g.get("data-x")): g.get("data-label") for g in svg.iter("g") if g.get("class") == "marker"}
    assert markers == {2.1e-3: "suggested lr 2.10e-03", 8.5e-3: "min-loss lr / 10: 8.50e-03"}
    labels = [_text(t) for t in svg.iter("text") if t.get("class") == "marker-label"]
    assert labels == ["suggested lr 2.10e-03", "min-loss lr / 10: 8.50e-03"]
    # the suggestion's line sits between the 1e-3 and 1e-2 ticks, at log-proportional distance
    ticks = {float(g.get("data-value")): float(g.find("line").get("x1")) for g in svg.iter("g")
             if g.get("class") == "tick major" and g.find("line").get("y2") != g.find("line").get("y1")}
    x = float(next(g for g in svg.iter("g") if g.get("class") == "marker").find("line").get("x1"))
    frac = (x - ticks[1e-3]) / (ticks[1e-2] - ticks[1e-3])
    assert frac == pytest.approx(math.log10(2.1), abs=0.02)
    loss = _series(svg, "loss")
    assert sum(len(r) for r in _polyline_points(loss)) == 48  # NaN and inf dropped
    figures = [_text(f) for f in root.iter("div") if f.get("class") == "figure"]
    assert figures[0] == "2.10e-03suggested learning rate"


def test_lr_find_rejects_mismatched_lengths():
    with pytest.raises(UsageError, match="same length; got 3 and 2"):
        render_lr_find(title="t", lrs=[1e-5, 1e-4, 1e-3], losses=[1.0, 2.0], suggestion=1e-4)


def test_chart_with_one_point_bands_markers_and_no_data():
    svg = ET.fromstring(svg_line_chart({"a": [(5, 2.0)], "empty": [(1, float("nan"))]}, x_label="x", y_label="y",
                                       bands=[(0, 5, "stage <1>")], markers=[(3, "m")]))
    assert svg.get("viewBox") == "0 0 720 300"
    assert [len(r) for r in _polyline_points(_series(svg, "a"))] == [1] and len(_series(svg, "a").findall("circle"))
    assert _polyline_points(_series(svg, "empty")) == []
    assert [g.get("data-label") for g in svg.iter("g") if g.get("class") == "band"] == ["stage <1>"]
    assert [g.get("data-x") for g in svg.iter("g") if g.get("class") == "marker"] == ["3"]
    legend = [_text(g) for g in svg.iter("g") if g.get("class") == "legend-item"]
    assert legend == ["a", "empty"]
    empty = ET.fromstring(svg_line_chart({"a": [(1, None)]}, x_label="x", y_label="loss"))
    assert [t.get("class") for t in empty.iter("text")] == ["no-data"]


def test_a_linear_axis_over_nonnegative_data_never_goes_below_zero():
    svg = ET.fromstring(svg_line_chart({"lr": [(i, i / 10) for i in range(11)]}, x_label="step", y_label="lr"))
    ticks = _ticks(svg, "y-axis")
    assert ticks[0] == 0.0 and ticks[-1] >= 1.0
    signed = ET.fromstring(svg_line_chart({"a": [(0, -0.5), (1, 1.0)]}, x_label="x", y_label="y"))
    assert _ticks(signed, "y-axis")[0] <= -0.5  # data below zero keeps its own range


def test_ensemble_page_links_its_members_and_shows_its_evaluation():
    from ulmfit.report import render_ensemble_report

    evaluation = {"accuracy": 0.8, "macro_f1": 0.79, "n": 10, "confusion_matrix": [[4, 1], [1, 4]],
                  "classes": ["neg", "pos"], "per_class": {}}
    members = [{"folder": "member-0", "direction": "forward", "accuracy": 0.7, "report": True},
               {"folder": "member-1", "direction": "backward", "accuracy": None}]
    page = render_ensemble_report(title="E <1>", members=members, evaluation=evaluation, date="2026-12-02 05:00")
    assert "<title>E &lt;1&gt;</title>" in page and "Classifier ensemble of 2 · 2026-12-02 05:00" in page
    assert 'href="member-0/report.html"' in page and ">backward<" in page and ">0.7<" in page and ">–<" in page
    assert 'href="member-1/' not in page  # a member without a report of its own is not linked
    assert 'id="eval-figures"' in page and 'id="confusion"' in page
    assert page == render_ensemble_report(title="E <1>", members=members, evaluation=evaluation,
                                          date="2026-12-02 05:00")
    bare = render_ensemble_report(title="E", members=members[:1])
    assert "No validation evaluation recorded." in bare and 'id="confusion"' not in bare

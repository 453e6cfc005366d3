"""Every benchmark in one command: one markdown table on stdout, every figure and the machine in a JSON file.

    python scripts/benchmark.py                       # full run (the quality section takes a few minutes per seed)
    python scripts/benchmark.py --skip quality        # the speed sections only
    python scripts/benchmark.py --only lm vision      # some sections
    python scripts/benchmark.py --quick               # smoke run (< 3 min on 2 cores): its figures are not benchmarks
    python scripts/benchmark.py --fastai-python /tmp/fastai_venv/bin/python   # + fastai beside ours
    python scripts/benchmark.py --skip quality --clock cpu   # per CPU-second: steadier on a shared machine
    python scripts/benchmark.py --only quality --quality-task trec6 --seeds 1 2 3

Sections (each speed figure is a ratio against a reference measured in the same run, ratio = ours / reference):

* ``tokenize``: ``scripts/benchmark_tokenize.py``'s children, each in a fresh process (so its peak RSS is its
  own): tokens/s and peak RSS of ``ulmfit.text.Tokenizer`` on NLTK's 2,000 movie reviews (shared data), beside
  fastai's ``tokenize_texts`` in the ``--fastai-python`` interpreter (tokens checked identical).
* ``lm``: ``scripts/benchmark_lm.py``'s ``measure_all``: AWD-LSTM (the shipped size, every dropout on,
  chunked softmax) training and inference tokens/s beside a plain ``nn.LSTM`` stack of the same size
  (and fastai's ``AWD_LSTM`` with ``--fastai-python``).
* ``classifier``: a ``TextClassifier`` on the shipped LM (``pretrained.DEFAULT``) whose head trained one
  epoch on 16 texts (speed does not depend on the weights): ``predict`` over N texts (texts/s, tokenization
  included) and the p50 / p95 latency of single-text ``predict`` calls, on the shipped demo reviews and on
  long movie reviews (shared data). No reference implementation runs here.
* ``vision``: ``scripts/benchmark_vision.py``'s ``measure``: xresnet18 training images/s beside
  torchvision's resnet18 (its ``--mode cpu`` configurations).
* ``quality``: ``scripts/benchmark_classifier.py``'s ``run_seed`` (the library's defaults, LM fine-tuning
  included) over ``--seeds``: test accuracy beside the TF-IDF + logistic-regression baseline on the same
  split (task ``demo`` by default: the shipped 320 / 80 reviews). The slow section.

Torch and OpenMP use ``--threads`` threads (default 1) in every part, children included; the tokenizer
uses as many worker processes. Ours and the reference are interleaved round by round and the best round
is kept, so that load from other processes hits both alike; the load average at start and end is recorded.
``--clock cpu`` times the tokenize, lm and classifier sections per CPU-second of the measured process
(steadier on a loaded machine, with ``--threads 1``); the vision section always uses the wall clock.
``--quick`` runs tiny sizes and one round (quality: 40 train / 20 test texts, one seed, LM fine-tuning and
classifier cut to 1 and 2 epochs): its figures are smoke figures, marked quick in the table and the JSON.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
import zipfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))

import benchmark_classifier  # noqa: E402
import benchmark_lm  # noqa: E402
import benchmark_tokenize  # noqa: E402
import benchmark_vision  # noqa: E402

SECTIONS = ("tokenize", "lm", "classifier", "vision", "quality")


@dataclass(frozen=True)
class Sizes:
    """How much each section measures; ``FULL`` and ``QUICK`` are the two presets."""

    tokenize_reviews: int | None      # first N movie reviews; None: all 2,000
    tokenize_rounds: int              # fresh processes per implementation (best kept)
    lm_bs: int
    lm_bptt: int
    lm_vocab: int
    lm_steps: int                     # timed batches per round
    lm_rounds: int
    clf_batch_texts: int              # texts of one batch predict() call
    clf_single_texts: int             # single-text predict() calls (p50 / p95)
    clf_long_docs: int                # movie reviews for the long-document rows (0: none)
    clf_rounds: int
    vision_sizes: tuple[int, ...]     # image sizes (px)
    vision_bs: int
    vision_steps: int
    vision_warmup: int
    vision_rounds: int
    quality_limit_train: int | None   # first N training texts (smoke only); None: all
    quality_limit_test: int | None
    quality_max_seeds: int | None     # None: every --seeds
    quality_lm_overrides: dict        # LMFineTuneConfig overrides ({}: the library's defaults)
    quality_clf_overrides: dict       # ClassifierConfig overrides


FULL = Sizes(tokenize_reviews=None, tokenize_rounds=2,
             lm_bs=64, lm_bptt=70, lm_vocab=20000, lm_steps=4, lm_rounds=3,
             clf_batch_texts=400, clf_single_texts=100, clf_long_docs=32, clf_rounds=3,
             vision_sizes=(64, 128), vision_bs=32, vision_steps=6, vision_warmup=2, vision_rounds=3,
             quality_limit_train=None, quality_limit_test=None, quality_max_seeds=None,
             quality_lm_overrides={}, quality_clf_overrides={})
QUICK = Sizes(tokenize_reviews=100, tokenize_rounds=1,
              lm_bs=8, lm_bptt=16, lm_vocab=1000, lm_steps=2, lm_rounds=1,
              clf_batch_texts=64, clf_single_texts=20, clf_long_docs=4, clf_rounds=1,
              vision_sizes=(32,), vision_bs=4, vision_steps=1, vision_warmup=1, vision_rounds=1,
              quality_limit_train=40, quality_limit_test=20, quality_max_seeds=1,
              quality_lm_overrides={"epochs": 1}, quality_clf_overrides={"epochs": 2})


@dataclass
class Row:
    """One measurement: ours beside a reference (when one exists) in ``unit``; ratio = ours / reference."""

    measurement: str
    ours: float
    unit: str
    reference: float | None = None
    reference_name: str | None = None   # what the reference is ("fastai 2.8.12"), or why there is none
    ours_sd: float | None = None        # spread over seeds (quality rows)
    reference_sd: float | None = None

    @property
    def ratio(self) -> float | None:
        return self.ours / self.reference if self.reference else None


class Skip(Exception):
    """A section cannot run here (missing data or package); the message says why and how to get it."""


@dataclass
class Context:
    args: argparse.Namespace
    sizes: Sizes
    nltk_dir: Path
    fastai: str | None              # "fastai X.Y.Z" when --fastai-python imports fastai
    fastai_missing: str             # otherwise why not (in the JSON's settings)
    details: dict[str, Any] = field(default_factory=dict)   # the running section's extra facts


# ---------------------------------------------------------------------- machine
def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def git_commit() -> str | None:
    """HEAD's hash, with ``+dirty`` when the working tree has changes; None outside a git checkout."""
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True, check=True)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO,
                               capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


def machine_info(threads: int) -> dict[str, Any]:
    return {"cpu_model": cpu_model(), "cores": os.cpu_count(), "torch": torch.__version__,
            "python": platform.python_version(), "threads": threads, "torch_threads": torch.get_num_threads(),
            "load_average_start": [round(x, 2) for x in os.getloadavg()],
            "date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "git_commit": git_commit()}


def find_fastai(python: str | None) -> tuple[str | None, str]:
    """``("fastai X.Y.Z", "")`` when ``python`` imports fastai, else ``(None, why not)``."""
    if not python:
        return None, "no --fastai-python given"
    try:
        res = subprocess.run([python, "-c", "import fastai; print(fastai.__version__)"], capture_output=True,
                             text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as err:
        return None, f"--fastai-python {python}: {err}"
    if res.returncode != 0:
        return None, f"--fastai-python {python} cannot import fastai"
    return f"fastai {res.stdout.strip()}", ""


# ---------------------------------------------------------------------- sections
def clock(ctx: Context) -> Callable[[], float]:
    return time.process_time if ctx.args.clock == "cpu" else time.perf_counter


def rate_unit(ctx: Context, what: str) -> str:
    """``"tokens/s"``, or ``"tokens per CPU-s"`` with ``--clock cpu``."""
    return f"{what}/s" if ctx.args.clock == "wall" else f"{what} per CPU-s"


def bench_tokenize(ctx: Context) -> list[Row]:
    data = ctx.nltk_dir / "movie_reviews.zip"
    if not data.is_file():
        raise Skip(f"needs the shared data: {data} not found (set $ULMFIT_SHARED_DATA)")
    sizes, workers = ctx.sizes, ctx.args.threads
    with tempfile.TemporaryDirectory() as tmp:
        if sizes.tokenize_reviews is not None:   # a zip of the first N reviews, read by the children as usual
            texts = benchmark_tokenize.read_reviews(data)[:sizes.tokenize_reviews]
            data = Path(tmp) / "reviews.zip"
            with zipfile.ZipFile(data, "w") as z:
                for i, text in enumerate(texts):
                    z.writestr(f"reviews/{i:05d}.txt", text)
        ours, theirs = [], []
        for rnd in range(sizes.tokenize_rounds):   # interleaved: a burst of load hits both alike
            out = os.path.join(tmp, f"ulmfit_{rnd}.json")
            ours.append(benchmark_tokenize.run_child(sys.executable, "ulmfit", "--data", str(data), str(workers), out))
            if ctx.fastai:
                fout = os.path.join(tmp, f"fastai_{rnd}.json")
                # fastai's n_workers=0 is its in-process path, its fastest single-core setting.
                theirs.append(benchmark_tokenize.run_child(ctx.args.fastai_python, "fastai", "--data", str(data),
                                                           str(0 if workers == 1 else workers), fout))
                ctx.details["identical_to_fastai"] = Path(out).read_bytes() == Path(fout).read_bytes()
    for r in ours + theirs:
        r["rate"] = r["n_tokens"] / (r["cpu_s"] if ctx.args.clock == "cpu" else r["seconds"])
    best = max(ours, key=lambda r: r["rate"])
    ref = max(theirs, key=lambda r: r["rate"]) if theirs else None
    ref_name = ctx.fastai or "fastai: not available"
    ctx.details.update(reviews=sizes.tokenize_reviews or 2000, tokens=best["n_tokens"], workers=workers,
                       ulmfit_runs=ours, fastai_runs=theirs)
    what = f"{best['n_tokens']:,} tokens of {sizes.tokenize_reviews or 2000} reviews, {workers} worker(s)"
    return [Row(f"tokenize, {what}", best["rate"], rate_unit(ctx, "tokens"), ref and ref["rate"], ref_name),
            Row("tokenize, peak RSS of the process", best["peak_rss_mb"], "MB", ref and ref["peak_rss_mb"], ref_name)]


def bench_lm(ctx: Context) -> list[Row]:
    s = ctx.sizes
    args = argparse.Namespace(vocab=s.lm_vocab, bs=s.lm_bs, bptt=s.lm_bptt, steps=s.lm_steps, rounds=s.lm_rounds,
                              warmup=1, n_samples=1024, device="cpu", precision="fp32", clock=ctx.args.clock,
                              threads=ctx.args.threads)
    size = benchmark_lm.CONFIGS["shipped"]
    ctx.details.update(config="shipped", **size, vocab=s.lm_vocab, bs=s.lm_bs, bptt=s.lm_bptt, steps=s.lm_steps,
                       rounds=s.lm_rounds)
    rows = []
    for mode, what in (("train", "training step (forward, loss, backward, Adam)"),
                       ("eval", "inference (forward + loss)")):
        tps = benchmark_lm.measure_all(["ours", "plain"], size, args, mode)
        ctx.details[mode] = tps
        label = f"LM {what}, emb {size['emb_sz']} / hidden {size['n_hid']}, bs {s.lm_bs} x bptt {s.lm_bptt}"
        rows.append(Row(label, tps["ours"], rate_unit(ctx, "tokens"), tps["plain"], "plain nn.LSTM stack"))
        if ctx.fastai:
            fastai = benchmark_lm.fastai_subprocess(ctx.args.fastai_python, "shipped", args, mode)
            if fastai:
                rows.append(Row(f"{label}, fastai AWD_LSTM", fastai, rate_unit(ctx, "tokens"), tps["plain"],
                                "plain nn.LSTM stack"))
    return rows


def _time_predict(clf, texts: list[str], rounds: int, now: Callable[[], float]) -> float:
    """Best texts/s of ``clf.predict(texts)`` (tokenization included) over ``rounds`` calls, after a warm-up."""
    clf.predict(texts[:2])
    best = 0.0
    for _ in range(rounds):
        t0 = now()
        clf.predict(texts)
        best = max(best, len(texts) / (now() - t0))
    return best


def _latencies_ms(clf, texts: list[str], now: Callable[[], float]) -> tuple[float, float]:
    """p50 and p95 (ms) of one ``clf.predict([text])`` call per text."""
    times = []
    for text in texts:
        t0 = now()
        clf.predict([text])
        times.append(1000 * (now() - t0))
    return float(np.percentile(times, 50)), float(np.percentile(times, 95))


def bench_classifier(ctx: Context) -> list[Row]:
    import pretrained
    from ulmfit import LanguageModel, TextClassifier
    from ulmfit.demo import load_demo_data

    s = ctx.sizes
    (train_texts, train_labels), (valid_texts, _) = load_demo_data()
    lm = LanguageModel.from_pretrained(pretrained.DEFAULT)
    # The cheapest classifier the public API builds: the head alone, one epoch on 16 texts. Its speed is that
    # of a fully trained one (same network, same tokenizer); its predictions mean nothing.
    clf = TextClassifier.train(train_texts[:16], train_labels[:16], lm=lm, stage_epochs=(1, 0, 0, 0),
                               valid_pct=0.0, device="cpu", progress=False)
    sets = [("demo reviews", (train_texts + valid_texts)[:s.clf_batch_texts], s.clf_single_texts)]
    long_path = ctx.nltk_dir / "movie_reviews.zip"
    if s.clf_long_docs and long_path.is_file():
        docs = benchmark_tokenize.read_reviews(long_path)[:s.clf_long_docs]
        sets.append(("movie reviews (long)", docs, min(len(docs), s.clf_single_texts)))
    else:
        ctx.details["long_documents"] = f"not measured: {long_path} not found"
    rows = []
    for name, texts, n_single in sets:
        lengths = [len(ids) for ids in clf.encode(texts)]
        length = f"{statistics.mean(lengths):.0f} tokens mean, {max(lengths)} max"
        tps = _time_predict(clf, texts, s.clf_rounds, clock(ctx))
        p50, p95 = _latencies_ms(clf, texts[:n_single], clock(ctx))
        ctx.details[name] = {"texts": len(texts), "tokens_mean": statistics.mean(lengths),
                             "tokens_median": statistics.median(lengths), "tokens_max": max(lengths),
                             "texts_per_s": tps, "single_texts": n_single, "p50_ms": p50, "p95_ms": p95}
        ms = "ms" if ctx.args.clock == "wall" else "CPU ms"
        rows += [Row(f"classifier predict, {len(texts)} {name} in one call ({length})", tps,
                     rate_unit(ctx, "texts")),
                 Row(f"classifier predict, one text per call, p50 over {n_single} {name}", p50, ms),
                 Row(f"classifier predict, one text per call, p95 over {n_single} {name}", p95, ms)]
    ctx.details.update(lm=pretrained.DEFAULT, head="trained one epoch on 16 demo reviews (encoder frozen)")
    return rows


def bench_vision(ctx: Context) -> list[Row]:
    s = ctx.sizes
    configs = [(arch, px) for px in s.vision_sizes for arch in ("xresnet18", "torchvision resnet18")]
    best: dict[tuple[str, int], float] = dict.fromkeys(configs, 0.0)
    for _ in range(s.vision_rounds):   # interleaved, so that a burst of load elsewhere hits every config alike
        for arch, px in configs:
            r = benchmark_vision.measure(arch, px, s.vision_bs, s.vision_steps, s.vision_warmup, "cpu")
            best[arch, px] = max(best[arch, px], r["images_per_s"])
    ctx.details.update(bs=s.vision_bs, steps=s.vision_steps, warmup=s.vision_warmup, rounds=s.vision_rounds,
                       images_per_s={f"{a} {px}px": v for (a, px), v in best.items()})
    return [Row(f"xresnet18 training (AdamW, one-cycle), {px} px, bs {s.vision_bs}", best["xresnet18", px],
                "images/s", best["torchvision resnet18", px], "torchvision resnet18")
            for px in s.vision_sizes]


def bench_quality(ctx: Context) -> list[Row]:
    if importlib.util.find_spec("sklearn") is None:
        raise Skip("the TF-IDF baseline needs scikit-learn: pip install -e '.[bench]'")
    task, s = ctx.args.quality_task, ctx.sizes
    if task != "demo" and not ctx.nltk_dir.is_dir():
        raise Skip(f"task {task} needs the shared data: {ctx.nltk_dir} not found (set $ULMFIT_SHARED_DATA)")
    (train_texts, train_labels), (test_texts, test_labels) = getattr(
        benchmark_classifier, benchmark_classifier.LOADERS[task])(ctx.nltk_dir)
    train = (train_texts[:s.quality_limit_train], train_labels[:s.quality_limit_train])
    test = (test_texts[:s.quality_limit_test], test_labels[:s.quality_limit_test])
    seeds = ctx.args.seeds[:s.quality_max_seeds]
    args = argparse.Namespace(quiet=True, lm=None, no_lm_finetune=False, ensemble=False,
                              limit_train=s.quality_limit_train, limit_test=s.quality_limit_test)
    records = [benchmark_classifier.run_seed(task, seed, (train, test), args, lm_overrides=s.quality_lm_overrides,
                                             clf_overrides=s.quality_clf_overrides) for seed in seeds]
    ctx.details.update(task=task, seeds=seeds, n_train=len(train[0]), n_test=len(test[0]), records=records)

    def pct(key: str) -> tuple[float, float | None]:
        values = [100 * r[key] for r in records]
        return statistics.mean(values), statistics.stdev(values) if len(values) > 1 else None

    ours, ours_sd = pct("test_accuracy")
    ref, ref_sd = pct("tfidf_test_accuracy")
    f1, f1_sd = pct("macro_f1")
    what = f"{task}, {len(train[0])} train / {len(test[0])} test texts, {len(seeds)} seed(s)"
    if s.quality_lm_overrides or s.quality_clf_overrides:
        what += f", LM fine-tune {s.quality_lm_overrides}, classifier {s.quality_clf_overrides}"
    minutes = statistics.mean(r["total_seconds"] for r in records) / 60
    return [Row(f"test accuracy, {what}", ours, "%", ref, "TF-IDF + logistic regression", ours_sd, ref_sd),
            Row(f"test macro F1, {what}", f1, "%", ours_sd=f1_sd),
            Row("quality run time per seed (LM fine-tune + classifier + baseline)", minutes, "min")]


BENCHES: dict[str, Callable[[Context], list[Row]]] = {
    "tokenize": bench_tokenize, "lm": bench_lm, "classifier": bench_classifier, "vision": bench_vision,
    "quality": bench_quality}


def run_section(name: str, ctx: Context) -> dict[str, Any]:
    """``{"status": "ok" | "skipped" | "failed", "reason", "rows", "details", "seconds", "quick"}``."""
    ctx.details = {}
    print(f"[benchmark] {name} ...", file=sys.stderr, flush=True)
    start = time.perf_counter()
    status, reason, rows = "ok", None, []
    try:
        rows = BENCHES[name](ctx)
    except Skip as why:
        status, reason = "skipped", str(why)
    except Exception as err:  # one broken section must not cost the figures of the others
        traceback.print_exc()
        status, reason = "failed", f"{type(err).__name__}: {err}"
    except SystemExit as err:  # the benchmark scripts report their errors this way
        status, reason = "failed", str(err)
    seconds = time.perf_counter() - start
    print(f"[benchmark] {name}: {status} in {seconds:.1f} s{f' ({reason})' if reason else ''}", file=sys.stderr,
          flush=True)
    return {"status": status, "reason": reason, "quick": ctx.args.quick, "seconds": round(seconds, 1),
            "rows": [{**asdict(r), "ratio": r.ratio} for r in rows], "details": ctx.details}


# ---------------------------------------------------------------------- report
def fmt(x: float | None) -> str:
    if x is None:
        return "-"
    if abs(x) >= 1000:
        return f"{x:,.0f}"
    if abs(x) >= 100:
        return f"{x:.0f}"
    return f"{x:.1f}" if abs(x) >= 10 else f"{x:.2f}"


def _cell(value: float | None, sd: float | None) -> str:
    return fmt(value) + (f" ± {sd:.1f}" if sd is not None else "")


def table(report: dict[str, Any]) -> str:
    """The markdown table: section | measurement | ours | reference | ratio | unit."""
    quick = report["quick"]
    lines = []
    if quick:
        lines.append("**QUICK SMOKE RUN: tiny sizes, one round; these figures are not benchmarks.**\n")
    lines += ["| section | measurement | ours | reference | ratio | unit |", "|---|---|---:|---:|---:|---|"]
    for name, sec in report["sections"].items():
        label = f"{name} (quick)" if quick else name
        if sec["status"] != "ok":
            lines.append(f"| {label} | {sec['status']}: {sec['reason']} | | | | |")
            continue
        for r in sec["rows"]:
            ref = r["reference_name"] or ""
            if r["reference"] is not None:
                ref = f"{_cell(r['reference'], r['reference_sd'])} ({ref})"
            ratio = f"{r['ratio']:.2f}" if r["ratio"] is not None else ""
            lines.append(f"| {label} | {r['measurement']} | {_cell(r['ours'], r['ours_sd'])} | {ref} | {ratio} "
                         f"| {r['unit']} |")
    m = report["machine"]
    lines.append(f"\n{m['cpu_model']}, {m['cores']} cores, {m['threads']} thread(s), torch {m['torch']}, "
                 f"{report['clock']} clock, "
                 f"load average {m['load_average_start'][0]:.2f} at start / {m['load_average_end'][0]:.2f} at end, "
                 f"{report['wall_seconds']:.0f} s wall; ratio = ours / reference, both measured in this run.")
    return "\n".join(lines)


def pin_threads(n: int) -> None:
    """``n`` torch and OpenMP/MKL threads here and in every child process."""
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(n)
    torch.set_num_threads(n)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="smoke run: tiny sizes, one round (figures marked quick)")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--only", nargs="+", choices=SECTIONS, metavar="SECTION",
                       help=f"run only these sections ({', '.join(SECTIONS)})")
    which.add_argument("--skip", nargs="+", choices=SECTIONS, default=[], metavar="SECTION",
                       help="skip these sections (e.g. --skip quality, the slow one)")
    p.add_argument("--threads", type=int, default=1, help="torch and OpenMP threads, tokenizer workers (default 1)")
    p.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                   help="cpu: tokenize, lm and classifier per CPU-second (steadier on a loaded machine); "
                        "vision always uses the wall clock")
    p.add_argument("--fastai-python", default=None, metavar="PATH",
                   help="a Python with fastai installed: fastai's tokenizer and AWD_LSTM beside ours")
    p.add_argument("--quality-task", default="demo", choices=list(benchmark_classifier.LOADERS),
                   help="the quality section's task (default demo: the shipped 320 / 80 reviews)")
    p.add_argument("--seeds", type=int, nargs="+", default=[42, 43, 44], help="the quality section's seeds")
    p.add_argument("--json-out", type=Path, default=Path("benchmark.json"), help="default benchmark.json")
    args = p.parse_args(argv)
    if args.threads < 1:
        p.error(f"--threads must be >= 1, got {args.threads}")

    start = time.perf_counter()
    pin_threads(args.threads)
    fastai, fastai_missing = find_fastai(args.fastai_python)
    ctx = Context(args, QUICK if args.quick else FULL, benchmark_classifier.default_nltk_dir(), fastai,
                  fastai_missing)
    settings = {**vars(args), "json_out": str(args.json_out), "sizes": asdict(ctx.sizes),
                "nltk_dir": str(ctx.nltk_dir), "fastai": fastai or f"not available ({fastai_missing})"}
    report: dict[str, Any] = {"quick": args.quick, "clock": args.clock, "machine": machine_info(args.threads),
                              "settings": settings}
    sections = args.only or SECTIONS
    report["sections"] = {}
    for name in SECTIONS:
        if name not in sections or name in args.skip:
            flag = "--skip" if name in args.skip else "--only"
            report["sections"][name] = {"status": "skipped", "reason": f"not selected ({flag})", "quick": args.quick,
                                        "seconds": 0.0, "rows": [], "details": {}}
        else:
            report["sections"][name] = run_section(name, ctx)
    report["machine"]["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    report["wall_seconds"] = round(time.perf_counter() - start, 1)
    report["table"] = table(report)
    args.json_out.write_text(json.dumps(report, indent=2, default=str) + "\n")
    print(report["table"])
    print(f"\nJSON: {args.json_out}")
    return 1 if any(s["status"] == "failed" for s in report["sections"].values()) else 0


if __name__ == "__main__":
    sys.exit(main())

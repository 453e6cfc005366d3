"""Tokenizer throughput, memory and cache benchmark (see docs/benchmarks/tokenize.md).

    python scripts/benchmark_tokenize.py                          # ulmfit at 1 and 2 workers + cache
    python scripts/benchmark_tokenize.py --fastai /tmp/fastai_venv/bin/python   # + fastai side by side
    python scripts/benchmark_tokenize.py --memory                 # + streaming a 20 MB and a 100 MB file

Reads the 2,000 reviews of NLTK's movie_reviews.zip (``--data``; default ``../shared/data/nltk/movie_reviews.zip``
relative to the repository). Each measurement runs in a fresh subprocess, so its peak RSS is its own and
every run starts with cold caches (spaCy's and ours). With ``--fastai`` the same texts go through fastai's
``tokenize_texts`` in the given interpreter and the tokens are checked to be identical.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data" / "nltk" / "movie_reviews.zip"


def read_reviews(path: Path) -> list[str]:
    if not path.is_file():
        raise SystemExit(f"--data {path} not found: pass the path to NLTK's movie_reviews.zip")
    with zipfile.ZipFile(path) as z:
        names = sorted(n for n in z.namelist() if n.endswith(".txt"))
        return [z.read(n).decode("utf-8") for n in names]


def cpu_seconds() -> float:
    """User + system CPU time of this process and its finished children (the worker processes)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def peak_rss_mb() -> float:
    # ru_maxrss is in KiB on Linux; include finished children (worker processes).
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, kids) / 1024


# ------------------------------------------------------------------------------------------ children
def child_ulmfit(data: Path, n_workers: int, out: str | None) -> dict:
    sys.path.insert(0, str(REPO))
    if not os.environ.get("BENCH_COLD_TORCH"):
        # Same starting point as fastai's child, whose `fastai.text.all` import loads torch before the clock.
        # spaCy imports torch through thinc (~1 s of its ~1.5 s import); spaCy itself is imported inside
        # the clock for both. --cold-torch puts torch's import inside our clock too.
        import torch  # noqa: F401
    from ulmfit.text import Tokenizer

    texts = read_reviews(data)
    tok = Tokenizer()
    t0, c0 = time.perf_counter(), cpu_seconds()
    toks = tok.tokenize(texts, n_workers=n_workers)
    dt, cpu = time.perf_counter() - t0, cpu_seconds() - c0
    if out:
        Path(out).write_text(json.dumps(toks, ensure_ascii=False), encoding="utf-8")
    n = sum(map(len, toks))
    return {"n_tokens": n, "seconds": dt, "cpu_s": cpu, "tokens_per_s": n / dt, "peak_rss_mb": peak_rss_mb()}


def child_fastai(data: Path, n_workers: int, out: str | None) -> dict:
    import warnings

    warnings.filterwarnings("ignore")
    from fastai.text.all import tokenize_texts

    texts = read_reviews(data)
    t0, c0 = time.perf_counter(), cpu_seconds()
    toks = [list(t) for t in tokenize_texts(texts, n_workers=n_workers)]
    dt, cpu = time.perf_counter() - t0, cpu_seconds() - c0
    if out:
        Path(out).write_text(json.dumps(toks, ensure_ascii=False), encoding="utf-8")
    n = sum(map(len, toks))
    return {"n_tokens": n, "seconds": dt, "cpu_s": cpu, "tokens_per_s": n / dt, "peak_rss_mb": peak_rss_mb()}


def child_cache(data: Path, n_workers: int, cache_dir: str) -> dict:
    sys.path.insert(0, str(REPO))
    from ulmfit.text import Tokenizer
    from ulmfit.text.cache import cached_tokenize

    texts = read_reviews(data)
    t0 = time.perf_counter()
    toks = cached_tokenize(Tokenizer(), texts, n_workers=n_workers, cache_dir=cache_dir)
    dt = time.perf_counter() - t0
    return {"n_tokens": sum(map(len, toks)), "seconds": dt, "peak_rss_mb": peak_rss_mb()}


def child_stream(path: str, n_workers: int) -> dict:
    sys.path.insert(0, str(REPO))
    from ulmfit.text import Tokenizer

    tok = Tokenizer()
    n_docs = n_tokens = 0
    t0 = time.perf_counter()
    with open(path, encoding="utf-8") as f:
        for toks in tok.tokenize_iter(f, n_workers=n_workers, chunk_size=2000):
            n_docs += 1
            n_tokens += len(toks)
    dt = time.perf_counter() - t0
    return {"n_docs": n_docs, "n_tokens": n_tokens, "seconds": dt, "tokens_per_s": n_tokens / dt,
            "peak_rss_mb": peak_rss_mb(), "file_mb": os.path.getsize(path) / 1e6}


def child_datasets(data: Path, n_workers: int, cache_dir: str) -> dict:
    """The alternative we compared against: datasets.map(batched=True, num_proc) with its Arrow cache."""
    sys.path.insert(0, str(REPO))
    import datasets

    from ulmfit.text import Tokenizer

    datasets.disable_progress_bars()
    texts = read_reviews(data)
    tok = Tokenizer()

    def fn(batch):
        return {"tokens": tok.tokenize(batch["text"], n_workers=1)}

    t0 = time.perf_counter()
    ds = datasets.Dataset.from_dict({"text": texts})
    ds.save_to_disk(os.path.join(cache_dir, "raw"))
    ds = datasets.load_from_disk(os.path.join(cache_dir, "raw"))
    ds = ds.map(fn, batched=True, batch_size=250, num_proc=n_workers if n_workers > 1 else None)
    toks = [list(t) for t in ds["tokens"]]  # materialise: ds[...] is a lazy column in recent datasets
    dt = time.perf_counter() - t0
    return {"n_tokens": sum(map(len, toks)), "seconds": dt, "peak_rss_mb": peak_rss_mb()}


CHILDREN = {"ulmfit": child_ulmfit, "fastai": child_fastai, "cache": child_cache, "stream": child_stream,
            "datasets": child_datasets}


# ------------------------------------------------------------------------------------------ parent
def run_child(python: str, kind: str, *args: str) -> dict:
    cmd = [python, str(Path(__file__).resolve()), "--child", kind, *args]
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    res = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if res.returncode != 0:
        raise SystemExit(f"{kind} child failed:\n{res.stderr[-3000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def make_corpus_file(texts: list[str], path: Path, mb: int) -> Path:
    """One review per line (newlines inside a review become spaces), repeated up to ``mb`` megabytes."""
    if path.is_file() and abs(path.stat().st_size - mb * 1e6) < 5e6:
        return path
    lines = [" ".join(t.split("\n")) + "\n" for t in texts]
    size = 0
    with open(path, "w", encoding="utf-8") as f:
        while size < mb * 1e6:
            for line in lines:
                f.write(line)
                size += len(line.encode("utf-8"))
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="path to movie_reviews.zip")
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--fastai", metavar="PYTHON", help="a Python with fastai 2.8.12 to compare against")
    ap.add_argument("--memory", action="store_true", help="stream 20 MB and 100 MB files (made in /tmp)")
    ap.add_argument("--datasets", action="store_true", help="also time datasets.map(num_proc) + Arrow cache")
    ap.add_argument("--repeat", type=int, default=1, help="runs per configuration (the best is reported)")
    ap.add_argument("--cold-torch", action="store_true",
                    help="import torch inside ulmfit's clock (fastai imports it before its clock)")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("rest", nargs="*", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.cold_torch:
        os.environ["BENCH_COLD_TORCH"] = "1"  # read by the ulmfit child

    if args.child:
        fn = CHILDREN[args.child]
        if args.child == "stream":
            res = fn(args.rest[0], int(args.rest[1]))
        else:
            extra = args.rest[1] if len(args.rest) > 1 else None
            res = fn(args.data, int(args.rest[0]), extra)
        print(json.dumps(res))
        return

    py = sys.executable
    texts = read_reviews(args.data)
    print(f"corpus: {len(texts)} reviews, {sum(map(len, texts)) / 1e6:.1f} M characters ({args.data})")
    print(f"machine: {os.cpu_count()} CPUs; Python {sys.version.split()[0]}")
    rows = []
    load0 = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        for nw in args.workers:
            out = os.path.join(tmp, f"ulmfit_{nw}.json")
            best = max((run_child(py, "ulmfit", str(nw), out) for _ in range(args.repeat)),
                       key=lambda r: r["tokens_per_s"])
            row = {"impl": "ulmfit", "workers": nw, **best}
            if args.fastai:
                fout = os.path.join(tmp, f"fastai_{nw}.json")
                # fastai's n_workers=0 is its in-process path, its fastest single-core setting.
                fbest = max((run_child(args.fastai, "fastai", str(0 if nw == 1 else nw), fout)
                             for _ in range(args.repeat)), key=lambda r: r["tokens_per_s"])
                same = Path(out).read_text(encoding="utf-8") == Path(fout).read_text(encoding="utf-8")
                rows.append({"impl": "fastai", "workers": nw, **fbest})
                row["identical_to_fastai"] = same
                row["speedup"] = best["tokens_per_s"] / fbest["tokens_per_s"]
            rows.append(row)
        print(f"\nload average before: {load0[0]:.2f}, after: {os.getloadavg()[0]:.2f} "
              f"(other processes share the {os.cpu_count()} CPUs; wall-clock figures depend on it)")
        print(f"{'impl':8} {'workers':>7} {'tokens':>10} {'seconds':>8} {'CPU s':>7} {'tokens/s':>10} "
              f"{'peak RSS MB':>12} {'speedup':>8} {'identical':>9}")
        for r in rows:
            print(f"{r['impl']:8} {r['workers']:>7} {r['n_tokens']:>10} {r['seconds']:>8.2f} {r['cpu_s']:>7.2f} "
                  f"{r['tokens_per_s']:>10,.0f} {r['peak_rss_mb']:>12.0f} "
                  f"{r.get('speedup', float('nan')):>8.2f} {str(r.get('identical_to_fastai', '')):>9}")

        cdir = os.path.join(tmp, "cache")
        nw = max(args.workers)
        cold = run_child(py, "cache", str(nw), cdir)
        warm = run_child(py, "cache", str(nw), cdir)
        disk = sum(f.stat().st_size for f in Path(cdir).rglob("*") if f.is_file()) / 1e6
        print(f"\ntoken cache ({nw} workers): first call {cold['seconds']:.2f} s (tokenize + write), "
              f"second call {warm['seconds']:.2f} s (read), {disk:.1f} MB on disk")

        if args.datasets:
            ddir = os.path.join(tmp, "ds")
            os.environ["HF_DATASETS_CACHE"] = os.path.join(tmp, "hf")
            d1 = run_child(py, "datasets", str(nw), ddir)
            d2 = run_child(py, "datasets", str(nw), ddir)
            print(f"datasets.map(batched, num_proc={nw}): first call {d1['seconds']:.2f} s, "
                  f"second call {d2['seconds']:.2f} s, peak RSS {max(d1['peak_rss_mb'], d2['peak_rss_mb']):.0f} MB")

    if args.memory:
        print()
        for mb in (20, 100):
            path = make_corpus_file(texts, Path(tempfile.gettempdir()) / f"ulmfit_tok_{mb}mb.txt", mb)
            for nw in args.workers:
                r = run_child(py, "stream", str(path), str(nw))
                print(f"stream {r['file_mb']:.0f} MB file, {nw} workers: {r['n_docs']} docs, "
                      f"{r['n_tokens']:,} tokens, {r['tokens_per_s']:,.0f} tokens/s, "
                      f"peak RSS {r['peak_rss_mb']:.0f} MB")


if __name__ == "__main__":
    main()

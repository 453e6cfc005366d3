"""AWD-LSTM language-model throughput (tokens/s): ours (all dropouts on) vs a plain nn.LSTM stack.

    python scripts/benchmark_lm.py                                 # CPU fp32, configs small + default
    python scripts/benchmark_lm.py --config small --precision fp32,bf16   # + bf16 autocast (AMX CPUs)
    python scripts/benchmark_lm.py --device cuda --precision fp16  # GPU, fp16 autocast + GradScaler
    python scripts/benchmark_lm.py --fastai-python /tmp/fastai_venv/bin/python   # + fastai's AWD_LSTM
    python scripts/benchmark_lm.py --breakdown                     # share of decoder + loss in a step

Batch 64 x bptt 70 (fastai's bptt is 72; the AWD-LSTM paper's 70), vocab 20k. ``small`` = emb 200 /
hidden 600 / 3 layers, ``default`` = emb 400 / hidden 1152 / 3 layers (fastai's AWD_LSTM). Every model has
the same tied decoder (Linear(emb, vocab) + bias) and flattened cross entropy; a training step is
forward + loss + backward + Adam step; the recurrent state is carried and detached between batches.
``plain`` has no dropout at all. Eval = forward + loss under ``torch.inference_mode``.
Models are interleaved round by round and the best round is reported; on a loaded machine use
``--threads 1 --clock cpu`` (tokens per CPU-second of the benchmark process).
Prints a markdown table (and one JSON line per measurement with ``--json-out FILE``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import time

import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from ulmfit.models import LMLoss  # noqa: E402
from ulmfit.models.sampled_softmax import unigram_proposal  # noqa: E402

CONFIGS = {"small": dict(emb_sz=200, n_hid=600, n_layers=3), "shipped": dict(emb_sz=200, n_hid=512, n_layers=3),
           "default": dict(emb_sz=400, n_hid=1152, n_layers=3)}


class PlainLSTMLM(nn.Module):
    """Embedding -> n_layers nn.LSTM (emb -> hid -> ... -> emb) -> tied Linear; no dropout.

    forward(x (B, T)) -> logits (B, T, V); state carried (detached) between calls.
    """

    def __init__(self, vocab: int, emb_sz: int, n_hid: int, n_layers: int):
        super().__init__()
        sizes = [emb_sz] + [n_hid] * (n_layers - 1) + [emb_sz]
        self.embedding = nn.Embedding(vocab, emb_sz, padding_idx=1)
        self.rnns = nn.ModuleList(nn.LSTM(sizes[k], sizes[k + 1], batch_first=True) for k in range(n_layers))
        self.decoder = nn.Linear(emb_sz, vocab)
        self.decoder.weight = self.embedding.weight
        self.state: list | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.embedding(x)
        state = self.state or [None] * len(self.rnns)
        new = []
        for rnn, hc in zip(self.rnns, state):
            out, hc = rnn(out, hc)
            new.append(tuple(t.detach() for t in hc))
        self.state = new
        return self.decoder(out)


def build(model: str, vocab: int, size: dict) -> nn.Module:
    if model == "plain":
        return PlainLSTMLM(vocab, **size)
    if model in ("ours", "ours-full", "ours-sampled"):
        from ulmfit.models import AWDLSTMConfig, build_language_model

        lm = build_language_model(vocab, AWDLSTMConfig(**size))
        lm.chunked_softmax = model != "ours-full"  # what ulmfit.LanguageModel trains with
        return lm
    if model == "fastai":  # only inside the fastai worker subprocess
        from fastai.text.all import AWD_LSTM, awd_lstm_lm_config, get_language_model

        return get_language_model(AWD_LSTM, vocab, config={**awd_lstm_lm_config, **size})
    raise ValueError(f"unknown model {model!r}; expected plain, ours or fastai")


def autocast(device: str, precision: str):
    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device, dtype=torch.float16 if precision == "fp16" else torch.bfloat16)


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


class Runner:
    """One model, its optimizer and batches; :meth:`run` times ``steps`` batches of ``mode``."""

    def __init__(self, model_name: str, size: dict, args: argparse.Namespace, mode: str, precision: str):
        torch.manual_seed(0)
        self.args, self.mode, self.device, self.precision = args, mode, args.device, precision
        self.model = build(model_name, args.vocab, size).to(self.device)
        # token ids with a Zipf distribution (p(rank k) ~ 1 / (k + 1)), as in text: what a sampled softmax sees
        zipf = 1.0 / torch.arange(1, args.vocab + 1, dtype=torch.float64)
        gen = torch.Generator().manual_seed(0)
        self.batches = [torch.multinomial(zipf, args.bs * (args.bptt + 1), replacement=True, generator=gen)
                        .view(args.bs, args.bptt + 1).to(self.device) for _ in range(4)]
        proposal = unigram_proposal(torch.bincount(torch.cat([b.flatten() for b in self.batches]).cpu(),
                                                   minlength=args.vocab))
        self.loss = LMLoss(self.model, n_samples=args.n_samples, proposal=proposal) if model_name == "ours-sampled" \
            else LMLoss(self.model) if model_name == "ours" else None
        self.opt = torch.optim.Adam(self.model.parameters(), lr=1e-4)
        self.scaler = torch.amp.GradScaler(self.device, enabled=precision == "fp16")
        self.model.train(mode != "eval")
        self.i = 0

    def step(self) -> None:
        batch = self.batches[self.i % len(self.batches)]
        self.i += 1
        x, y = batch[:, :-1], batch[:, 1:]
        with autocast(self.device, self.precision):
            out = self.model(x)
            if self.mode == "encoder-train":  # no decoder, no softmax: what the recurrent part costs
                loss = out[1].float().pow(2).mean()
            elif getattr(self.model, "chunked_softmax", False) and self.mode != "eval":
                loss = self.loss(out, y)
            else:
                logits = out[0] if isinstance(out, (tuple, list)) else out
                loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)).float(), y.reshape(-1))
        if self.mode == "eval":
            return
        self.opt.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.step(self.opt)
        self.scaler.update()

    def run(self, steps: int) -> float:
        """Tokens per second over ``steps`` batches."""
        with torch.inference_mode() if self.mode == "eval" else contextlib.nullcontext():
            clock = time.process_time if self.args.clock == "cpu" else time.perf_counter
            _sync(self.device)
            start = clock()
            for _ in range(steps):
                self.step()
            _sync(self.device)
        return self.args.bs * self.args.bptt * steps / (clock() - start)


def measure_all(models: list[str], size: dict, args: argparse.Namespace, mode: str) -> dict[str, float]:
    """Best tokens/s of each model (``name`` or ``name@precision``) over ``rounds`` rounds, the models
    interleaved round by round (so that load from other processes hits them alike)."""
    runners = {}
    for m in models:
        name, _, precision = m.partition("@")
        encoder_only = name == "ours, encoder only"
        runners[m] = Runner("ours" if encoder_only else name, size, args,
                            "encoder-train" if encoder_only else mode, precision or args.precision.split(",")[0])
    for r in runners.values():
        r.run(args.warmup)
    best = dict.fromkeys(models, 0.0)
    for _ in range(args.rounds):
        for m, r in runners.items():
            best[m] = max(best[m], r.run(args.steps))
    return best


def fastai_subprocess(python: str, config: str, args: argparse.Namespace, mode: str) -> float | None:
    cmd = [python, os.path.abspath(__file__), "--worker", "fastai", "--config", config, "--modes", mode,
           "--vocab", str(args.vocab), "--bs", str(args.bs), "--bptt", str(args.bptt), "--steps", str(args.steps),
           "--rounds", str(args.rounds), "--warmup", str(args.warmup), "--device", args.device,
           "--precision", args.precision.split(",")[0],
           "--threads", str(args.threads), "--clock", args.clock]
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        print(f"fastai worker failed ({python}):\n{res.stderr[-2000:]}", file=sys.stderr)
        return None
    return float(res.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", choices=[*CONFIGS, "all"], default="all")
    p.add_argument("--models", default="ours,plain",
                   help="comma list of: ours (chunked softmax), ours-sampled (sampled softmax, the pretraining "
                        "default), ours-full (the plain tied softmax), plain")
    p.add_argument("--modes", default="train,eval", help="comma list of: train, eval")
    p.add_argument("--vocab", type=int, default=20000)
    p.add_argument("--bs", type=int, default=64)
    p.add_argument("--n-samples", type=int, default=1024, help="draws of ours-sampled's sampled softmax")
    p.add_argument("--bptt", type=int, default=70)
    p.add_argument("--steps", type=int, default=4, help="timed batches per round")
    p.add_argument("--rounds", type=int, default=3, help="rounds (models interleaved); the best is reported")
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--precision", default="fp32", help="fp32, bf16 or fp16 (cuda), or a comma list")
    p.add_argument("--threads", type=int, default=0, help="torch.set_num_threads (0: torch's default)")
    p.add_argument("--clock", choices=["wall", "cpu"], default="wall",
                   help="cpu: tokens per CPU-second of this process (stable on a loaded machine; use with --threads 1)")
    p.add_argument("--fastai-python", default=None, help="a python with fastai installed: also time fastai")
    p.add_argument("--breakdown", action="store_true", help="also time ours without decoder + loss")
    p.add_argument("--json-out", default=None)
    p.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.device == "cuda" and not torch.cuda.is_available():
        p.error("--device cuda but CUDA is not available")
    precisions = [q.strip() for q in args.precision.split(",") if q.strip()]
    bad = [q for q in precisions if q not in ("fp32", "bf16", "fp16")]
    if bad or not precisions:
        p.error(f"--precision: unknown {bad or args.precision!r}; use fp32, bf16, fp16 or a comma list")
    if "fp16" in precisions and args.device == "cpu":
        p.error("--precision fp16 needs --device cuda (use bf16 on CPU)")
    if args.worker:  # inside the fastai subprocess: print tokens/s only
        print(measure_all([args.worker], CONFIGS[args.config], args, args.modes)[args.worker])
        return

    configs = list(CONFIGS) if args.config == "all" else [args.config]
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    if len(precisions) > 1:
        models = [f"{m}@{q}" for q in precisions for m in models]
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    suffix = f"@{precisions[0]}" if len(precisions) > 1 else ""
    baseline = "plain" + suffix
    device_name = torch.cuda.get_device_name() if args.device == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(f"# {device_name}, torch {torch.__version__}, {'/'.join(precisions)}, vocab {args.vocab}, bs {args.bs}, "
          f"bptt {args.bptt}, best of {args.rounds} rounds of {args.steps} steps after {args.warmup} warm-up, "
          f"{args.clock} clock\n")
    print(f"| config | mode | model | tokens/s | vs {baseline} |")
    print("|---|---|---|---:|---:|")
    records = []
    for config in configs:
        size = CONFIGS[config]
        for mode in modes:
            names = models + ([f"ours, encoder only{suffix}"] if args.breakdown and mode == "train" else [])
            results: dict[str, float | None] = dict(measure_all(names, size, args, mode))
            if args.fastai_python:
                results["fastai" + suffix] = fastai_subprocess(args.fastai_python, config, args, mode)
            for name, tps in results.items():
                ratio = f"{tps / results[baseline]:.3f}" if tps and results.get(baseline) else "-"
                print(f"| {config} | {mode} | {name} | {tps:,.0f} | {ratio} |" if tps else
                      f"| {config} | {mode} | {name} | failed | - |", flush=True)
                records.append(dict(config=config, mode=mode, model=name.partition("@")[0], tokens_per_s=tps,
                                    precision=name.partition("@")[2] or precisions[0], device=device_name,
                                    bs=args.bs, bptt=args.bptt, vocab=args.vocab, clock=args.clock))
            enc, full = results.get(f"ours, encoder only{suffix}"), results.get("ours" + suffix)
            if enc and full:
                print(f"| {config} | train | decoder + loss share of ours' step | {1 - full / enc:.0%} | |", flush=True)
    if args.json_out:
        with open(args.json_out, "a") as f:
            for r in records:
                f.write(json.dumps(r) + "\n")


if __name__ == "__main__":
    main()

"""Run in a fresh process by test_determinism.py: pretrain -> fine-tune -> classifier on tiny data, print
the sha256 of every model's weights and of the predictions as one JSON line.

    python -m tests.ulmfit.determinism_worker SEED OUT [--stop-after pretrain] [--kill-at STEP] [--resume]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import signal

import numpy as np
import torch


def digest(state: dict) -> str:
    h = hashlib.sha256()
    for key in sorted(state):
        h.update(key.encode())
        h.update(state[key].detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("seed", type=int)
    p.add_argument("out")
    p.add_argument("--stop-after", choices=["pretrain", "all"], default="all")
    p.add_argument("--kill-at", type=int, default=None, help="SIGKILL this process right after step N")
    p.add_argument("--resume", action="store_true")
    args = p.parse_args()
    torch.set_num_threads(1)

    from ulmfit import LanguageModel, TextClassifier
    from ulmfit.demo import load_demo_data
    from ulmfit.language_model import LMPretrainConfig
    from ulmfit.models import AWDLSTMConfig
    from ulmfit.text import Tokenizer
    from ulmfit.train import Callback

    class KillAt(Callback):
        def after_batch(self, learn):  # runs after the checkpoint callback of the same batch
            if learn.training and learn.step == args.kill_at:
                os.kill(os.getpid(), signal.SIGKILL)

    (texts, labels), (vtexts, _) = load_demo_data()
    run = os.path.join(args.out, "run")
    config = LMPretrainConfig(epochs=2, bs=8, bptt=16, min_freq=2, valid_pct=0.1, seed=args.seed)
    lm = LanguageModel.pretrain(texts[:120], tokenizer=Tokenizer(), arch=AWDLSTMConfig(emb_sz=16, n_hid=24, n_layers=2),
                                config=config, path=run, progress=False, n_workers=1, checkpoint_every=5,
                                callbacks=[KillAt()] if args.kill_at else [],
                                resume=os.path.join(run, "checkpoint.pt") if args.resume else None)
    result = {"pretrain": digest(lm.model.state_dict())}
    if args.stop_after == "all":
        lm.fine_tune(texts[120:200], epochs=1, bs=8, progress=False, seed=args.seed)
        result["fine_tune"] = digest(lm.model.state_dict())
        clf = TextClassifier.train(texts[:160], labels[:160], lm=lm, stage_epochs=(1, 0, 0, 1), bs=16, progress=False,
                                   seed=args.seed)
        result["classifier"] = digest(clf.model.state_dict())
        probs = clf.predict_proba(vtexts[:20])
        result["predictions"] = hashlib.sha256(np.ascontiguousarray(probs).tobytes()).hexdigest()
    print(json.dumps(result))


if __name__ == "__main__":
    main()

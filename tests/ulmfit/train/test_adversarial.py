"""Adversarial training on embeddings: the perturbation's size and direction, and the step's gradient is
that of loss(e) + weight * loss(e + r), checked against the same sum written out by hand."""

import pytest
import torch
from torch import nn

from tests.ulmfit.train.helpers import EpochLoader
from ulmfit.train import AdversarialEmbedding, Callback, Learner

PAD = 0


class BagOfEmbeddings(nn.Module):
    """ids (B, T) -> logits (B, C): mean of the non-pad embeddings through a tanh layer (a loss that is not
    linear in the embeddings, so the perturbation changes the gradient)."""

    def __init__(self, vocab=12, emb=5, n_out=3):
        super().__init__()
        self.embedding = nn.Embedding(vocab, emb, padding_idx=PAD)
        self.hidden = nn.Linear(emb, 7)
        self.out = nn.Linear(7, n_out)

    def forward(self, x):
        return self.logits(x, self.embedding(x))

    def logits(self, x, e):
        mask = (x != PAD).unsqueeze(-1).float()
        pooled = (e * mask).sum(1) / mask.sum(1).clamp_min(1)
        return self.out(torch.tanh(self.hidden(pooled)))

    def layer_groups(self):
        return [self.embedding, self.hidden, self.out]


def _data(n=24, t=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(1, 12, (n, t), generator=g)
    x[::3, -2:] = PAD  # some rows end in padding
    return x, torch.randint(0, 3, (n,), generator=g)


class GradRecorder(Callback):
    """Keeps, for the first training step, the batch, the weights before the step and the gradients the
    optimizer is about to use (it runs after every other callback's before_step)."""

    def __init__(self):
        self.seen = None

    def before_step(self, learn):
        if self.seen is None:
            self.seen = {"xb": learn.xb.clone(), "yb": learn.yb.clone(), "loss": learn.loss.item(),
                         "weights": {n: p.detach().clone() for n, p in learn.model.named_parameters()},
                         "grads": {n: p.grad.detach().clone() for n, p in learn.model.named_parameters()
                                   if p.grad is not None}}


def test_perturbation_has_eps_times_the_row_norm_along_the_gradient():
    cb = AdversarialEmbedding(nn.Embedding(4, 3, padding_idx=PAD), eps=0.25)
    ids = torch.tensor([[1, 2, PAD], [3, 3, 3]])
    e = torch.randn(2, 3, 3, requires_grad=True)
    (e * torch.randn(2, 3, 3)).sum().backward()
    r = cb._perturbation(ids, e)
    for row in range(2):
        text = ids[row] != PAD
        expected_norm = 0.25 * torch.linalg.vector_norm(e[row][text].detach())  # pads are left out
        assert torch.linalg.vector_norm(r[row]) == pytest.approx(float(expected_norm), rel=1e-5)
        cos = torch.nn.functional.cosine_similarity(r[row].flatten(), e.grad[row].flatten(), dim=0)
        assert float(cos) == pytest.approx(1.0, abs=1e-6)
    assert cb._perturbation(ids, torch.randn(2, 3, 3)) is None  # no gradient: no perturbation


def test_step_gradient_is_clean_plus_weighted_perturbed_loss_gradient():
    torch.manual_seed(0)
    model = BagOfEmbeddings()
    x, y = _data()
    rec = GradRecorder()
    adv = AdversarialEmbedding(model.embedding, eps=0.5, weight=0.7)
    learn = Learner(model, EpochLoader(x, y, bs=8, seed=1), None, loss_func=nn.functional.cross_entropy,
                    progress=False, callbacks=[adv, rec])
    learn.fit(1, lr=1e-2)

    # the same step by hand, from the weights the recorder saw
    ref = BagOfEmbeddings()
    ref.load_state_dict(rec.seen["weights"])
    xb, yb = rec.seen["xb"], rec.seen["yb"]
    e = ref.embedding(xb)
    e.retain_grad()
    clean = nn.functional.cross_entropy(ref.logits(xb, e), yb)
    clean.backward()
    text = (xb != PAD).unsqueeze(-1).float()
    e_norm = torch.linalg.vector_norm((e.detach() * text).flatten(1), dim=1)
    r = 0.5 * e.grad * (e_norm / torch.linalg.vector_norm(e.grad.flatten(1), dim=1)).view(-1, 1, 1)
    perturbed = nn.functional.cross_entropy(ref.logits(xb, ref.embedding(xb) + r), yb)
    (0.7 * perturbed).backward()

    assert perturbed.item() > clean.item()  # the perturbation raises the loss: it follows its gradient
    assert rec.seen["loss"] == pytest.approx(clean.item() + 0.7 * perturbed.item(), rel=1e-5)
    assert set(rec.seen["grads"]) == {n for n, _ in ref.named_parameters()}
    for name, p in ref.named_parameters():
        torch.testing.assert_close(rec.seen["grads"][name], p.grad, rtol=1e-5, atol=1e-7)
    assert adv._handle is None and not adv._seen  # the hook is gone after the fit


class ValidLossCheck(Callback):
    """For each validation batch: the learner's loss, and the loss of a plain forward of the same batch."""

    def __init__(self):
        self.pairs = []

    def after_loss(self, learn):
        if not learn.training:
            direct = nn.functional.cross_entropy(learn.model(learn.xb), learn.yb)
            self.pairs.append((learn.loss.item(), direct.item()))


def test_frozen_embedding_is_still_perturbed_and_validation_is_untouched():
    torch.manual_seed(0)
    model = BagOfEmbeddings()
    x, y = _data()
    rec, check = GradRecorder(), ValidLossCheck()
    learn = Learner(model, EpochLoader(x, y, bs=8, seed=1), EpochLoader(x, y, bs=8, shuffle=False),
                    loss_func=nn.functional.cross_entropy, progress=False,
                    callbacks=[AdversarialEmbedding(model.embedding, eps=0.5), rec, check])
    learn.freeze_to(-2)
    before = model.embedding.weight.detach().clone()
    learn.fit(1, lr=1e-2)
    assert torch.equal(model.embedding.weight, before)  # frozen: never trained
    # ... but perturbed: the first step's loss is the clean loss plus a larger perturbed one
    ref = BagOfEmbeddings()
    ref.load_state_dict(rec.seen["weights"])
    with torch.no_grad():
        clean = float(nn.functional.cross_entropy(ref(rec.seen["xb"]), rec.seen["yb"]))
    assert rec.seen["loss"] > 2 * clean
    assert len(check.pairs) == 3 and all(a == pytest.approx(b, rel=1e-6) for a, b in check.pairs)


@pytest.mark.parametrize("kwargs, match", [({"eps": 0}, "eps must be a number > 0"),
                                           ({"eps": 0.1, "weight": -1}, "weight must be a number > 0")])
def test_arguments_are_validated(kwargs, match):
    with pytest.raises(ValueError, match=match):
        AdversarialEmbedding(nn.Embedding(3, 2), **kwargs)

import json

import numpy as np
import pytest
import torch

from ulmfit.classifier import ClassifierConfig, ClassifierEnsemble, TextClassifier
from ulmfit.demo import load_demo_data
from ulmfit.language_model import LanguageModel
from ulmfit.model_folder import ModelFolderError
from ulmfit.train import Callback, FeatureMixUp
from ulmfit.train.mixup import mixed_loss

FAST = dict(stage_epochs=(1, 1, 0, 1), bs=16, progress=False)


@pytest.fixture(scope="module")
def trained(tiny_lm_dir):
    (texts, labels), (valid_texts, valid_labels) = load_demo_data()
    lm = LanguageModel.load(tiny_lm_dir)
    clf = TextClassifier.train(texts[:96], labels[:96], lm=lm, valid=(valid_texts[:32], valid_labels[:32]), **FAST)
    return clf, valid_texts[:32], valid_labels[:32]


def test_classes_and_proba_shape(trained):
    clf, texts, _ = trained
    assert clf.classes == ["negative", "positive"]
    probs = clf.predict_proba(texts)
    assert probs.shape == (len(texts), 2)
    assert np.allclose(probs.sum(1), 1, atol=1e-5)
    assert clf.predict(texts) == [clf.classes[i] for i in probs.argmax(1)]


def test_predictions_come_back_in_the_callers_order(trained):
    clf, texts, _ = trained
    probs = clf.predict_proba(texts)
    perm = np.random.default_rng(0).permutation(len(texts))
    permuted = clf.predict_proba([texts[i] for i in perm])
    assert np.allclose(permuted, probs[perm], atol=1e-5)
    # one at a time gives the same answers as a batch (padding does not leak into the result)
    single = np.stack([clf.predict_proba([t])[0] for t in texts[:6]])
    assert np.allclose(single, probs[:6], atol=1e-4)
    assert np.allclose(clf.predict_proba(texts, bs=5), probs, atol=1e-4)  # any batch size, same answers
    assert clf.predict(texts, bs=5) == clf.predict(texts)
    for bad in (0, 2.5, None):
        with pytest.raises(ValueError, match=rf"^predict_proba: bs must be an int >= 1, got {bad!r}$"):
            clf.predict(texts, bs=bad)


def test_save_load_round_trip(trained, tmp_path):
    clf, texts, _ = trained
    clf.save(tmp_path / "clf")
    again = TextClassifier.load(tmp_path / "clf")
    assert again.classes == clf.classes
    assert np.array_equal(again.predict_proba(texts), clf.predict_proba(texts))
    assert json.loads((tmp_path / "clf" / "labels.json").read_text())["classes"] == clf.classes


def test_load_refuses_a_language_model_folder(tiny_lm_dir):
    with pytest.raises(ModelFolderError, match=r"holds a language model, not a text classifier \(config.json's "
                                               r"kind is 'language_model', expected 'classifier'\)$"):
        TextClassifier.load(tiny_lm_dir)


def test_load_refuses_another_format_version(trained, tmp_path):
    clf, _, _ = trained
    folder = clf.save(tmp_path / "clf")
    config = json.loads((folder / "config.json").read_text())
    config["format_version"] = 0
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelFolderError, match="format_version 0"):
        TextClassifier.load(folder)


def test_evaluate_reports_metrics_and_refuses_unknown_labels(trained):
    clf, texts, labels = trained
    metrics = clf.evaluate(texts, labels)
    assert 0 <= metrics["accuracy"] <= 1
    assert np.sum(metrics["confusion_matrix"]) == len(texts)
    assert set(metrics["per_class"]) == {"negative", "positive"}
    assert metrics["accuracy"] == pytest.approx(np.trace(metrics["confusion_matrix"]) / len(texts))
    with pytest.raises(ValueError, match="unknown label 'neutral'"):
        clf.evaluate(texts[:2], ["positive", "neutral"])


def test_empty_and_odd_texts_get_a_prediction(trained):
    clf, _, _ = trained
    probs = clf.predict_proba(["", "   ", "!!!", "a" * 500])
    assert probs.shape == (4, 2) and np.isfinite(probs).all()
    with pytest.raises(TypeError, match="single str"):
        clf.predict_proba("a single string")
    with pytest.raises(TypeError, match=r"texts\[1\]"):
        clf.predict_proba(["fine", None])


def test_ensemble_averages_probabilities(trained):
    clf, texts, labels = trained
    ens = TextClassifier.ensemble([clf, clf])
    assert isinstance(ens, ClassifierEnsemble)
    assert np.allclose(ens.predict_proba(texts), clf.predict_proba(texts))
    assert ens.predict(texts, bs=7) == clf.predict(texts)
    with pytest.raises(TypeError, match=r"^models\[1\] must be a TextClassifier .*, got str$"):
        ClassifierEnsemble([clf, "model-folder"])


def test_ensemble_of_forward_and_backward(trained, tiny_lm_dir):
    clf, texts, labels = trained
    (train_texts, train_labels), _ = load_demo_data()
    lm = LanguageModel.load(tiny_lm_dir)
    lm.meta["backwards"] = True
    bwd = TextClassifier.train(train_texts[:64], train_labels[:64], lm=lm, valid_pct=0.0, **FAST)
    assert bwd.backwards
    ens = TextClassifier.ensemble([clf, bwd])
    expected = (clf.predict_proba(texts) + bwd.predict_proba(texts)) / 2
    assert np.allclose(ens.predict_proba(texts), expected)
    assert ens.evaluate(texts, labels)["n"] == len(texts)


def test_multi_label_thresholds(tiny_lm_dir):
    (texts, labels), _ = load_demo_data()
    multi = [[lab] + (["long"] if len(t) > 80 else []) for t, lab in zip(texts[:80], labels[:80])]
    lm = LanguageModel.load(tiny_lm_dir)
    clf = TextClassifier.train(texts[:80], multi, lm=lm, multi_label=True, valid_pct=0.25, **FAST)
    assert clf.multi_label and clf.classes == ["long", "negative", "positive"]
    assert len(clf.thresholds) == 3
    probs = clf.predict_proba(texts[:10])
    clf.thresholds = [0.0, 1.01, 1.01]
    assert clf.predict(texts[:10]) == [["long"]] * 10
    clf.thresholds = [1.01, 0.0, 1.01]
    assert clf.predict(texts[:10]) == [["negative"]] * 10
    assert probs.shape == (10, 3)
    metrics = clf.evaluate(texts[:10], multi[:10])
    assert "macro_f1" in metrics and "subset_accuracy" in metrics


def test_label_count_mismatch_is_a_clear_error(tiny_lm_dir):
    with pytest.raises(ValueError, match="3 texts but 2 labels"):
        TextClassifier.train(["a", "b", "c"], ["x", "y"], lm=LanguageModel.load(tiny_lm_dir), **FAST)


def test_gradual_unfreezing_stages_and_discriminative_lrs(tiny_lm_dir):
    """Head only, then freeze_to(-2), freeze_to(-3), then all; lower groups get lr / 2.6 each."""
    from ulmfit.train import Callback

    class Record(Callback):
        def __init__(self):
            self.stages = []

        def after_step(self, learn):
            if learn.batch_in_epoch != 0 or learn.epoch != 0:
                return
            groups = learn.model.layer_groups()
            trainable = [any(p.requires_grad for m in g.modules() if not isinstance(m, torch.nn.BatchNorm1d)
                             for p in m.parameters(recurse=False)) for g in groups]
            lrs = {}
            for pg in learn.opt.param_groups:
                lrs[pg["layer_group"]] = pg["lr"]
            self.stages.append((trainable, lrs))

    import torch

    rec = Record()
    (texts, labels), _ = load_demo_data()
    TextClassifier.train(texts[:48], labels[:48], lm=LanguageModel.load(tiny_lm_dir), valid_pct=0.0,
                         stage_epochs=(1, 1, 1, 1), bs=16, progress=False, callbacks=[rec])
    n = 2 + 2  # embedding, one group per LSTM layer of the tiny LM (2), head
    assert [t for t, _ in rec.stages] == [
        [False] * (n - 1) + [True],
        [False] * (n - 2) + [True] * 2,
        [False] * (n - 3) + [True] * 3,
        [True] * n,
    ]
    for trainable, lrs in rec.stages[1:]:
        live = [g for g, on in enumerate(trainable) if on]
        for lower, upper in zip(live, live[1:]):
            assert lrs[upper] / lrs[lower] == pytest.approx(2.6, rel=1e-6)


def test_stage_lrs_follow_the_data_size():
    from ulmfit.classifier import _auto_stage_lr_mults

    few, small, large = _auto_stage_lr_mults(900), _auto_stage_lr_mults(9_000), _auto_stage_lr_mults(25_000)
    assert len(few) == len(small) == len(large) == 4
    assert few[-1] > few[0] and small[-1] > small[0]  # small sets: the unfrozen stage trains the embeddings harder
    assert small[-1] > few[-1]  # 2,000 to 20,000 texts: a higher last-stage rate won on validation (MR, TREC-6)
    assert _auto_stage_lr_mults(1_999) == few and _auto_stage_lr_mults(2_000) == small == _auto_stage_lr_mults(19_999)
    assert list(large) == sorted(large, reverse=True)  # large sets: fastai's falling schedule


def test_too_few_stage_lr_mults_is_a_clear_error(tiny_lm_dir):
    (texts, labels), _ = load_demo_data()
    with pytest.raises(ValueError, match="stage_lr_mults"):
        TextClassifier.train(texts[:32], labels[:32], lm=LanguageModel.load(tiny_lm_dir), valid_pct=0.0,
                             stage_epochs=(1, 1, 1, 1), stage_lr_mults=(1.0, 1.0), bs=16, progress=False)


def test_same_seed_same_classifier_in_one_process_and_other_seed_differs(tiny_lm_dir):
    (texts, labels), (valid_texts, _) = load_demo_data()
    lm = LanguageModel.load(tiny_lm_dir)

    def probs(seed):
        clf = TextClassifier.train(texts[:64], labels[:64], lm=lm, stage_epochs=(1,), bs=16, progress=False, seed=seed)
        return clf.predict_proba(valid_texts[:16])

    first = probs(3)
    assert np.array_equal(first, probs(3))   # the head is built after seeding
    assert not np.array_equal(first, probs(4))


def test_an_lm_given_by_folder_or_loaded_gives_the_same_classifier(tiny_lm_dir):
    # loading a folder draws random numbers (the model is built, then its weights read): it happens before seeding
    (texts, labels), (valid_texts, _) = load_demo_data()
    probs = [TextClassifier.train(texts[:64], labels[:64], lm=lm, stage_epochs=(1,), bs=16, progress=False,
                                  seed=3).predict_proba(valid_texts[:16])
             for lm in (LanguageModel.load(tiny_lm_dir), str(tiny_lm_dir))]
    assert np.array_equal(probs[0], probs[1])


def test_default_validation_is_a_seeded_holdout_of_the_training_data(tiny_lm_dir):
    (texts, labels), _ = load_demo_data()
    clf = TextClassifier.train(texts[:60], labels[:60], lm=LanguageModel.load(tiny_lm_dir), stage_epochs=(1,),
                               bs=16, progress=False, seed=5)
    record = clf.meta["history"][-1]
    assert record["train_documents"] == 54  # 6 of the 60 held out
    assert record["valid_source"].startswith("hold-out of the training data") and "seed=5" in record["valid_source"]
    assert record["threads"] == torch.get_num_threads()  # the last bits depend on it: recorded with the model


def test_keep_best_restores_the_best_validation_epoch_of_the_last_stage(tiny_lm_dir):
    from ulmfit.train import KeepBest

    (texts, labels), (valid_texts, valid_labels) = load_demo_data()
    lm = LanguageModel.load(tiny_lm_dir)
    valid = (valid_texts[:32], valid_labels[:32])
    watch = KeepBest(monitor="accuracy", restore=False)   # records what keep_best=True should pick
    common = dict(lm=lm, valid=valid, stage_epochs=(1, 0, 0, 4), bs=16, progress=False, seed=2)
    final = TextClassifier.train(texts[:96], labels[:96], callbacks=[watch], **common)
    kept = TextClassifier.train(texts[:96], labels[:96], keep_best=True, **common)
    record = kept.meta["history"][-1]["kept_best_epoch"]
    assert record == {"epoch": watch.best_epoch, "accuracy": watch.best}
    assert kept.evaluate(*valid)["accuracy"] == pytest.approx(watch.best)
    state = kept.model.state_dict()
    assert all(np.array_equal(state[k].numpy(), v.numpy()) for k, v in watch.best_state.items())
    if watch.best_epoch != 3:  # the last epoch was not the best: keep_best changed the weights
        assert not np.array_equal(final.predict_proba(valid[0]), kept.predict_proba(valid[0]))
    with pytest.raises(ValueError, match="keep_best=True needs validation"):
        TextClassifier.train(texts[:20], labels[:20], lm=lm, keep_best=True, valid_pct=0, stage_epochs=(1,))


def test_broken_weights_raise_instead_of_predicting_class_zero(trained, tmp_path):
    import torch

    from ulmfit.errors import NonFiniteOutputError

    clf, texts, _ = trained
    broken = TextClassifier.load(clf.save(tmp_path / "ok"))
    with torch.no_grad():
        list(broken.model.parameters())[-1].fill_(float("nan"))   # the output layer's bias
    with pytest.raises(NonFiniteOutputError, match="NaN/inf probabilities for 3 of 3 texts"):
        broken.predict_proba(texts[:3])
    with pytest.raises(ModelFolderError, match="model.pt.*NaN/inf"):
        broken.save(tmp_path / "nan")          # never written as a model folder
    assert not (tmp_path / "nan" / "model.pt").exists()


def test_configs_validate_every_field_before_any_work():
    from ulmfit.classifier import ClassifierConfig
    from ulmfit.language_model import LMFineTuneConfig, LMPretrainConfig

    with pytest.raises(ValueError, match=r"LMFineTuneConfig.vocab='Extend' is not accepted; expected one of 'extend'"):
        LMFineTuneConfig(vocab="Extend")
    with pytest.raises(ValueError, match=r"ClassifierConfig.stage_epochs=1 is not accepted"):
        ClassifierConfig(stage_epochs=1)
    with pytest.raises(ValueError, match=r"LMPretrainConfig.precision='fp8'"):
        LMPretrainConfig(precision="fp8")
    with pytest.raises(ValueError, match=r"ClassifierConfig.valid_pct=1.5"):
        ClassifierConfig(valid_pct=1.5)
    for field in ("lr", "wd", "ar_alpha", "mixup"):  # inf is no learning rate: refused before training diverges
        with pytest.raises(ValueError, match=rf"ClassifierConfig.{field}=inf is not accepted; expected a finite"):
            ClassifierConfig(**{field: float("inf")})


def test_lm_fine_tuning_that_would_train_nothing_is_refused():
    from ulmfit.language_model import LMFineTuneConfig

    with pytest.raises(ValueError, match="frozen_epochs=0 and epochs=0 would train nothing"):
        LMFineTuneConfig(frozen_epochs=0, epochs=0)
    LMFineTuneConfig(frozen_epochs=0, epochs=None)  # None: chosen from the corpus size


def test_decide_refuses_probabilities_of_the_wrong_shape(trained):
    clf = trained[0]
    n = len(clf.classes)
    assert clf.decide([[1.0] + [0.0] * (n - 1)]) == [clf.classes[0]]
    for bad in ([[0.2] * (n + 1)], [0.5] * n):
        with pytest.raises(ValueError, match=rf"probs must have shape \(N, {n}\)"):
            clf.decide(bad)


def test_drop_mult_that_would_make_a_dropout_of_1_or_more_is_refused_by_name():
    from ulmfit.models import AWDLSTMConfig

    arch = AWDLSTMConfig(output_p=0.4, hidden_p=0.3, input_p=0.4, embed_p=0.05, weight_p=0.5)
    assert arch.scaled(1.9).weight_p == pytest.approx(0.95)
    with pytest.raises(ValueError, match=r"drop_mult=2 scales weight_p 0.5 to 1, but a dropout probability must "
                                         r"stay below 1: use a drop_mult below 2"):
        arch.scaled(2)
    with pytest.raises(ValueError, match="drop_mult must be a finite number >= 0, got inf"):
        arch.scaled(float("inf"))


def test_bad_train_arguments_name_the_keyword(tiny_lm_dir):
    (texts, labels), _ = load_demo_data()
    lm = LanguageModel.load(tiny_lm_dir)
    with pytest.raises(ValueError, match=r"train: labels\[19\] is None \(1 missing in all\); every text needs a label"):
        TextClassifier.train(texts[:20], labels[:19] + [None], lm=lm)
    with pytest.raises(ValueError, match=r"valid must be a pair \(texts, labels\)"):
        TextClassifier.train(texts[:20], labels[:20], lm=lm, valid=(texts[:5],))
    with pytest.raises(TypeError, match="config must be a ClassifierConfig, got str"):
        TextClassifier.train(texts[:20], labels[:20], lm=lm, config="x")


def test_unknown_training_options_are_refused_with_the_valid_ones(tiny_lm_dir):
    (texts, labels), _ = load_demo_data()
    lm = LanguageModel.load(tiny_lm_dir)
    with pytest.raises(ValueError, match=r"unknown ClassifierConfig option\(s\) \['epochz'\] \(did you mean "
                                         r"epochs\?\); valid options: lr, "):
        TextClassifier.train(texts[:20], labels[:20], lm=lm, epochz=3)
    with pytest.raises(ValueError, match=r"^\['label_col', 'text_cols'\] are options of reading a file, not of "
                                         r"training: read it with ulmfit.data.load_source\(path"):
        TextClassifier.train("reviews.csv", lm=lm, label_col="sentiment", text_cols=["review"])
    with pytest.raises(ValueError, match=r"unknown LMFineTuneConfig option\(s\) \['lr_max'\]"):
        lm.fine_tune(texts[:20], lr_max=1e-3)


class _LossCheck(Callback):
    """Records, for every training batch, the loss the learner computed and the smoothed and plain
    cross-entropies of the same predictions (AR/TAR are off, so nothing else adds to the loss)."""

    def __init__(self, smoothing: float):
        self.smoothing, self.seen = smoothing, []

    def after_loss(self, learn):
        if learn.training:
            pred, y = learn.pred.detach(), learn.yb
            self.seen.append((learn.loss.item(),
                              float(torch.nn.functional.cross_entropy(pred, y, label_smoothing=self.smoothing)),
                              float(torch.nn.functional.cross_entropy(pred, y))))


def test_label_smoothing_is_the_training_loss(tiny_lm_dir):
    (texts, labels), _ = load_demo_data()
    lm = LanguageModel.load(tiny_lm_dir)
    check = _LossCheck(0.2)
    TextClassifier.train(texts[:48], labels[:48], lm=lm, label_smoothing=0.2, ar_alpha=0, tar_beta=0,
                         callbacks=[check], stage_epochs=(1, 0, 0, 0), bs=16, progress=False)
    assert check.seen
    for loss, smoothed, plain in check.seen:
        assert loss == pytest.approx(smoothed, rel=1e-5)
        assert abs(smoothed - plain) > 1e-4  # the smoothing changed the loss


def test_label_smoothing_is_validated():
    from ulmfit.classifier import ClassifierConfig

    with pytest.raises(ValueError, match=r"ClassifierConfig.label_smoothing=1.0 is not accepted; expected a fraction"):
        ClassifierConfig(label_smoothing=1.0)
    with pytest.raises(ValueError, match=r"label_smoothing=0.1 applies to single-label classifiers only"):
        ClassifierConfig(label_smoothing=0.1, multi_label=True)


class _LMLossCheck(Callback):
    """Records, for every training batch, the learner's loss (after every callback added to it), the plain
    cross-entropy and the LM loss of the same batch (AR/TAR are off)."""

    def __init__(self, bias):
        self.bias, self.seen = bias, []

    def after_pred(self, learn):   # before the step changes the tied embedding
        if learn.training:
            with torch.no_grad():
                self.lm_loss = float(learn.model.next_token_loss(learn.xb, learn.out[1], self.bias))

    def before_step(self, learn):   # every callback's after_loss has run
        if learn.training:
            self.seen.append((learn.stage.name, float(learn.loss.detach()),
                              float(torch.nn.functional.cross_entropy(learn.pred.detach(), learn.yb)), self.lm_loss))


def test_lm_loss_weight_adds_the_language_model_loss_once_the_encoder_trains(tiny_lm_dir):
    (texts, labels), _ = load_demo_data()
    lm = LanguageModel.load(tiny_lm_dir)
    check = _LMLossCheck(lm.model.decoder.bias.detach())
    clf = TextClassifier.train(texts[:48], labels[:48], lm=lm, lm_loss_weight=0.5, ar_alpha=0, tar_beta=0,
                               callbacks=[check], stage_epochs=(1, 1, 0, 1), bs=16, progress=False)
    stages = {name for name, *_ in check.seen}
    assert stages == {"head only", "last 2 groups", "all layers"}
    for name, loss, plain, lm_loss in check.seen:
        assert lm_loss > 1.0   # next-token cross entropy over a vocabulary: never near 0 here
        expected = plain if name == "head only" else plain + 0.5 * lm_loss   # frozen encoder: nothing to add
        assert loss == pytest.approx(expected, rel=1e-4)
    assert not any(k.startswith("decoder") or "bias" == k for k in clf.model.state_dict())
    assert clf.meta["history"][-1]["config"]["lm_loss_weight"] == 0.5


def test_lm_loss_weight_is_validated():
    from ulmfit.classifier import ClassifierConfig

    with pytest.raises(ValueError, match=r"ClassifierConfig.lm_loss_weight=-1 is not accepted"):
        ClassifierConfig(lm_loss_weight=-1)


class _LossVsPlain(Callback):
    """Per training step: the stage, the learner's loss and the plain cross-entropy of its clean forward
    (read after the step: the library's callbacks come after the user's)."""

    def __init__(self):
        self.seen = []

    def after_step(self, learn):
        if learn.training:
            self.seen.append((learn.stage.name, float(learn.loss.detach()),
                              float(torch.nn.functional.cross_entropy(learn.pred.detach(), learn.yb))))


def test_adversarial_eps_adds_a_perturbed_pass_in_every_stage(tiny_lm_dir):
    (texts, labels), _ = load_demo_data()
    lm = LanguageModel.load(tiny_lm_dir)
    check = _LossVsPlain()
    # bptt 16 and max_len 32: long reviews are read in many chunks, the early ones without gradients
    clf = TextClassifier.train(texts[:32], labels[:32], lm=lm, adversarial_eps=0.1, ar_alpha=0, tar_beta=0, bptt=16,
                               max_len=32, callbacks=[check], stage_epochs=(1, 1, 0, 1), bs=16, progress=False)
    assert {name for name, *_ in check.seen} == {"head only", "last 2 groups", "all layers"}
    for _, loss, plain in check.seen:
        # loss = plain + the perturbed pass's cross-entropy (its own dropout masks), which is never near 0 here
        assert loss - plain > 0.1
    assert clf.meta["history"][-1]["config"]["adversarial_eps"] == 0.1
    assert all(torch.isfinite(p).all() for p in clf.model.parameters())


class _MixedLossCheck(Callback):
    """Per training batch: the learner's loss against the mixed cross-entropy of the FeatureMixUp in ``learn``."""

    def __init__(self):
        self.seen = []

    def after_loss(self, learn):
        if learn.training:
            mixer = [cb for cb in learn.cbs if isinstance(cb, FeatureMixUp)]
            lam, perm = mixer[0]._batch if mixer else (torch.ones(len(learn.yb)), torch.arange(len(learn.yb)))
            pred, y = learn.pred.detach(), learn.yb
            self.seen.append((len(mixer), learn.loss.item(),
                              float(mixed_loss(torch.nn.functional.cross_entropy, pred, y, y[perm], lam)),
                              float(torch.nn.functional.cross_entropy(pred, y))))


def test_mixup_mixes_the_pooled_features_and_the_loss(tiny_lm_dir):
    (texts, labels), _ = load_demo_data()
    lm = LanguageModel.load(tiny_lm_dir)
    runs = {}
    for mixup in (0.4, 0.0):
        check = _MixedLossCheck()
        clf = TextClassifier.train(texts[:48], labels[:48], lm=lm, ar_alpha=0, tar_beta=0, mixup=mixup,
                                   callbacks=[check], stage_epochs=(1, 0, 0, 1), bs=16, progress=False)
        runs[mixup] = clf
        assert check.seen and all(n == (mixup > 0) for n, *_ in check.seen)
        for _, loss, mixed, _ in check.seen:
            assert loss == pytest.approx(mixed, rel=1e-5)
        if mixup:
            assert any(abs(mixed - plain) > 1e-3 for _, _, mixed, plain in check.seen)
    assert [runs[m].meta["history"][-1]["config"]["mixup"] for m in (0.4, 0.0)] == [0.4, 0.0]
    assert ClassifierConfig().mixup == 0.0   # off by default (docs/BENCHMARKS.md, eighth round)
    with pytest.raises(ValueError, match=r"ClassifierConfig.mixup=-0.4 is not accepted"):
        TextClassifier.train(texts[:48], labels[:48], lm=lm, mixup=-0.4)


def test_adversarial_eps_is_validated():
    from ulmfit.classifier import ClassifierConfig

    with pytest.raises(ValueError, match=r"ClassifierConfig.adversarial_eps=-0.1 is not accepted"):
        ClassifierConfig(adversarial_eps=-0.1)


def test_ensemble_train_averages_seeds_per_language_model(tiny_lm_dir):
    from ulmfit.classifier import auto_members_per_lm

    (texts, labels), (valid_texts, valid_labels) = load_demo_data()
    lm = LanguageModel.load(tiny_lm_dir)
    ens = ClassifierEnsemble.train(texts[:64], labels[:64], lms=[lm], valid=(valid_texts[:24], valid_labels[:24]),
                                   seed=7, **FAST)
    assert auto_members_per_lm(64) == 3 and auto_members_per_lm(1999) == 3 and auto_members_per_lm(2000) == 1
    assert [m.meta["history"][-1]["config"]["seed"] for m in ens.models] == [7, 8, 9]
    probs = [m.predict_proba(valid_texts[:24]) for m in ens.models]
    assert not np.allclose(probs[0], probs[1])          # the seeds made different classifiers
    assert np.allclose(ens.predict_proba(valid_texts[:24]), np.mean(probs, axis=0))
    assert ens.evaluation["accuracy"] == ens.evaluate(valid_texts[:24], valid_labels[:24])["accuracy"]
    # member 0 is exactly what TextClassifier.train gives with the same seed
    single = TextClassifier.train(texts[:64], labels[:64], lm=lm, valid=(valid_texts[:24], valid_labels[:24]),
                                  seed=7, **FAST)
    assert np.array_equal(single.predict_proba(valid_texts[:24]), probs[0])


def test_ensemble_train_names_each_member_before_its_stages(tiny_lm_dir, capsys):
    (texts, labels), _ = load_demo_data()
    lm = LanguageModel.load(tiny_lm_dir)
    ClassifierEnsemble.train(texts[:40], labels[:40], lms=[lm], members_per_lm=2, valid_pct=0.0, seed=5,
                             stage_epochs=(1,), bs=16, progress=True)
    out = capsys.readouterr().out
    first, second = out.index("classifier 1/2: "), out.index("classifier 2/2: ")
    assert first < out.index("stage 1/1", first) < second   # a member's header comes before its stage lines
    assert "(forward), seed 5" in out[first:second] and "(forward), seed 6" in out[second:]


def test_ensemble_train_shares_one_hold_out_and_checks_its_arguments(tiny_lm_dir):
    (texts, labels), _ = load_demo_data()
    lm = LanguageModel.load(tiny_lm_dir)
    ens = ClassifierEnsemble.train(texts[:60], labels[:60], lms=[lm, lm], members_per_lm=2, valid_pct=0.2, **FAST)
    assert len(ens.models) == 4 and ens.evaluation is not None
    sources = {m.meta["history"][-1]["valid_source"] for m in ens.models}
    assert sources == {"given (valid=)"}          # the ensemble's one hold-out, not one per member seed
    assert {m.meta["history"][-1]["train_documents"] for m in ens.models} == {48}
    with pytest.raises(ValueError, match="members_per_lm must be None"):
        ClassifierEnsemble.train(texts[:60], labels[:60], lms=[lm], members_per_lm=0)
    with pytest.raises(ValueError, match="at least one language model"):
        ClassifierEnsemble.train(texts[:60], labels[:60], lms=[])


def _rare_label_in_the_holdout(multi_label: bool = False):
    """20 texts of two labels and one of a third, placed where the default hold-out (valid_pct 0.1, seed 42) lands."""
    from ulmfit.data.split import holdout_split

    texts = [f"text number {i}" for i in range(21)]
    labels = [["pos"] if i % 2 else ["neg", "pos"] for i in range(21)] if multi_label else \
        ["pos" if i % 2 else "neg" for i in range(21)]
    _, valid_idx = holdout_split(21, 0.1, 42)
    labels[valid_idx[0]] = ["pos", "neutral"] if multi_label else "neutral"
    return texts, labels


@pytest.mark.parametrize("multi_label", [False, True])
def test_a_label_only_in_the_hold_out_is_named_not_an_unknown_label(tiny_lm_dir, multi_label):
    texts, labels = _rare_label_in_the_holdout(multi_label)
    with pytest.raises(ValueError, match=r"^valid_pct=0.1 holds out 2 of the 21 texts, and with them all 1 labelled "
                                         r"\['neutral'\], so training could not learn that label"):
        TextClassifier.train(texts, labels, lm=LanguageModel.load(tiny_lm_dir), multi_label=multi_label,
                             progress=False)


def test_a_hold_out_that_leaves_one_label_to_train_on_names_valid_pct(tiny_lm_dir):
    texts, labels = ["good"] * 3 + ["bad"] * 3, ["pos"] * 3 + ["neg"] * 3
    with pytest.raises(ValueError, match=r"^valid_pct=0.9 holds out 5 of the 6 texts, and with them all 3 labelled "
                                         r"\['(pos|neg)'\], so training could not learn that label: add texts of it, "
                                         r"lower valid_pct"):
        TextClassifier.train(texts, labels, lm=LanguageModel.load(tiny_lm_dir), valid_pct=0.9, progress=False)
    with pytest.raises(ValueError, match=r"^valid_pct=0.9 holds out 5 of the 6 texts"):  # one hold-out for all
        ClassifierEnsemble.train(texts, labels, lms=[LanguageModel.load(tiny_lm_dir)], valid_pct=0.9, progress=False)
    with pytest.raises(ValueError, match=r"^train_labels hold 1 distinct label\(s\) \['pos'\]: need at least 2"):
        TextClassifier.train(texts[:3], labels[:3], lm=LanguageModel.load(tiny_lm_dir), progress=False)

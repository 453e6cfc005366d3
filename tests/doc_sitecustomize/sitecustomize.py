"""Tiny sizes for the documentation's code blocks (see tests/doc_examples.py); active only when
``ULMFIT_DOC_TEST=1``, which the doc-example test sets for the processes its blocks start.

The blocks run as written; only the amount of work shrinks: every ``Learner`` fit runs one epoch at most,
the LR finder 8 steps, and ``ulmfit demo`` uses 48 / 16 of its reviews. The patches are applied when the
modules are first imported, so a process that never trains pays nothing.
"""

import importlib.abc
import importlib.util
import os
import sys


def _patch_learner(module) -> None:
    fit, lr_find = module.Learner._fit, module.Learner.lr_find

    def tiny_fit(self, n_epochs, *args, **kwargs):
        return fit(self, min(n_epochs, 1), *args, **kwargs)

    def tiny_lr_find(self, start_lr=1e-7, end_lr=10.0, num_it=100, *args, **kwargs):
        return lr_find(self, start_lr, end_lr, min(num_it, 8), *args, **kwargs)

    module.Learner._fit, module.Learner.lr_find = tiny_fit, tiny_lr_find


def _patch_demo(module) -> None:
    load = module.load_demo_data

    def tiny_demo_data():
        (tt, tl), (vt, vl) = load()
        return (tt[:24] + tt[-24:], tl[:24] + tl[-24:]), (vt[:8] + vt[-8:], vl[:8] + vl[-8:])

    module.load_demo_data = tiny_demo_data


_PATCHES = {"ulmfit.train.learner": _patch_learner, "ulmfit.demo": _patch_demo}


class _PatchingFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name not in _PATCHES:
            return None
        sys.meta_path.remove(self)
        try:
            spec = importlib.util.find_spec(name)
        finally:
            sys.meta_path.insert(0, self)
        if spec is None or spec.loader is None:
            return spec
        exec_module, patch = spec.loader.exec_module, _PATCHES[name]

        def exec_and_patch(module):
            exec_module(module)
            patch(module)

        spec.loader.exec_module = exec_and_patch
        return spec


if os.environ.get("ULMFIT_DOC_TEST") == "1":
    sys.meta_path.insert(0, _PatchingFinder())

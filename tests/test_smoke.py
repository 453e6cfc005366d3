import pretrained
import ulmfit
import vision


def test_packages_import():
    assert ulmfit.__version__
    assert pretrained.__doc__ and vision.__doc__


def test_the_public_names_of_the_design_import():
    """Every public entry point named in the design (DESIGN.md) still imports from where users look."""
    from ulmfit import LanguageModel, TextClassifier
    from ulmfit.models import AWDLSTM, AWDLSTMConfig, build_classifier, build_language_model
    from ulmfit.text import SentencePieceTokenizer, Tokenizer, Vocab
    from vision import (
        LabelSmoothingCrossEntropy,
        MixUp,
        TransferModel,
        create_head,
        xresnet18,
        xresnet34,
        xresnet50,
        xresnet101,
        xresnet152,
    )

    assert callable(LanguageModel.from_pretrained) and callable(TextClassifier.train)
    for name in ("list_models", "load", "import_fastai", "DEFAULT"):
        assert hasattr(pretrained, name), name
    assert callable(LanguageModel.export_fastai)
    assert all(callable(f) for f in (AWDLSTM, AWDLSTMConfig, build_classifier, build_language_model, Tokenizer,
                                     SentencePieceTokenizer, Vocab, LabelSmoothingCrossEntropy, MixUp,
                                     TransferModel, create_head, xresnet18, xresnet34, xresnet50, xresnet101,
                                     xresnet152))
    assert {"LanguageModel", "TextClassifier"} <= set(dir(ulmfit))


def test_the_registry_imports_no_model_class_and_vision_no_text_code():
    """The layering of docs/ARCHITECTURE.md, read from the source (imports inside functions count)."""
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]

    def imports(path: Path) -> set[str]:
        found = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module:
                found.add(node.module)
        return found

    def below(folder: str) -> set[str]:
        return set().union(*(imports(p) for p in (root / folder).rglob("*.py")))

    hub = below("ulmfit/hub")
    assert not {m for m in hub if m.startswith(("ulmfit.language_model", "ulmfit.classifier", "pretrained"))}, hub
    assert not {m for m in hub if m.startswith("ulmfit.") and not m.startswith(("ulmfit.hub", "ulmfit.errors",
                                                                                "ulmfit.version",
                                                                                "ulmfit.user_warning"))}
    layer0 = [root / "ulmfit" / f"{name}.py" for name in ("errors", "version", "user_warning")]
    assert not {m for p in layer0 for m in imports(p) if m.startswith(("ulmfit", "vision", "pretrained"))}
    banned = ("ulmfit.data", "ulmfit.text", "ulmfit.language_model", "ulmfit.classifier", "ulmfit.model_folder")
    assert not {m for m in below("vision") if m.startswith(banned)}
    assert not {m for m in below("ulmfit/models") if m.startswith(("ulmfit", "vision", "pretrained"))
                and not m.startswith(("ulmfit.models", "ulmfit.user_warning"))}

import subprocess
import sys

from tests.conftest import REPO


def test_vision_imports_without_spacy_and_datasets():
    code = ("import sys; sys.modules['spacy'] = None; sys.modules['datasets'] = None\n"
            "import vision\n"
            "from vision import xresnet18, xresnet34, xresnet50, xresnet101, xresnet152\n"
            "from vision import MixUp, LabelSmoothingCrossEntropy, create_head, TransferModel\n"
            "import vision.cli\n"
            "print('ok')")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr

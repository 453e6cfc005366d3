"""docs/RELIABILITY.md names the tests behind each row: they must exist, so the page follows the code."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_every_test_named_in_reliability_md_exists():
    text = (ROOT / "docs" / "RELIABILITY.md").read_text(encoding="utf-8")
    named, current = [], None
    for ref in re.findall(r"`((?:tests/[\w/]+\.py)?::\w+)`", text):
        path, _, name = ref.partition("::")
        current = path or current  # "::name" continues the file named last
        named.append((current, name))
    assert len(named) >= 30
    missing = [f"{path}::{name}" for path, name in named
               if not re.search(rf"^def {name}\(", (ROOT / path).read_text(encoding="utf-8"), re.M)]
    assert not missing, missing

"""Every code block of the README and docs/ runs (tests/doc_examples.py says how), and a broken one fails."""

from __future__ import annotations

import os
import re
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.doc_examples import (
    REPO,
    DocBlockError,
    check_block,
    doc_files,
    extract_blocks,
    parse_cli_line,
    run_file,
    shell_commands,
)

RUNNABLE = [p for p in doc_files() if any(b.lang and b.directive != "not-run" and b.lang not in ("text",)
                                          for b in extract_blocks(p))]


def _fence_count(path) -> int:
    """Opening fences, counted independently of the extractor (fences alternate open / close)."""
    fences = [line for line in path.read_text(encoding="utf-8").splitlines() if re.match(r"^ {0,3}(```|~~~)", line)]
    assert len(fences) % 2 == 0, f"{path}: odd number of fence lines"
    return len(fences) // 2


@pytest.mark.parametrize("path", doc_files(), ids=lambda p: str(p.relative_to(REPO)))
def test_every_block_is_collected_and_has_a_known_language(path):
    blocks = extract_blocks(path)
    assert len(blocks) == _fence_count(path)
    for block in blocks:
        check_block(block)


def test_the_docs_have_runnable_blocks_and_few_are_not_run():
    blocks = [b for p in doc_files() for b in extract_blocks(p)]
    run = [b for b in blocks if b.lang not in ("text", "csv", "tsv", "json", "jsonl", "output") and b.directive == ""]
    not_run = [b for b in blocks if b.directive == "not-run" and not b.arg.startswith("long")]
    assert len(run) >= 10, [b.where for b in run]
    assert len(not_run) <= max(3, len(run) // 4), [b.where for b in not_run]


@pytest.fixture(scope="module")
def doc_runs(tmp_path_factory) -> dict:
    """Every runnable Markdown file run once, two files at a time (each block is a one-thread subprocess, so
    two streams keep both cores of a CI machine busy): path -> the exception it raised, or None."""
    def run(path):
        sandbox = tmp_path_factory.mktemp(path.stem)
        try:
            run_file(path, sandbox)
        except Exception as exc:  # noqa: BLE001 - reported by the test of that file
            return path, (exc, sandbox)
        return path, (None, sandbox)

    with ThreadPoolExecutor(max_workers=int(os.environ.get("ULMFIT_DOC_TEST_JOBS", "2"))) as pool:
        return dict(pool.map(run, sorted(RUNNABLE, key=lambda p: -p.stat().st_size)))


@pytest.mark.parametrize("path", RUNNABLE, ids=lambda p: str(p.relative_to(REPO)))
def test_doc_examples_run(path, doc_runs):
    error, sandbox = doc_runs[path]
    if error is not None:
        raise error
    for made in (sandbox / "docs" / "images").glob("*"):  # a picture the docs draw is the one they show
        assert made.read_bytes() == (REPO / "docs" / "images" / made.name).read_bytes(), \
            f"{path.name} draws docs/images/{made.name} differently from the committed file: regenerate it"


def _doc(tmp_path, text: str):
    path = tmp_path / "broken.md"
    path.write_text(text, encoding="utf-8")
    sandbox = tmp_path / "sandbox"
    sandbox.mkdir()
    return path, sandbox


def test_a_working_file_runs_in_order_with_files_and_tiny_sizes(tmp_path):
    path, sandbox = _doc(tmp_path, (
        "Intro.\n\n<!-- doc-test: file data/words.txt -->\n```text\nalpha\nbeta\n```\n\n"
        "```python\nfrom pathlib import Path\nPath('out.txt').write_text(Path('data/words.txt').read_text().upper())\n"
        "from ulmfit.train import learner\nassert learner.Learner._fit.__name__ == 'tiny_fit'\n```\n\n"
        "```console\n$ cat out.txt\nALPHA\nBETA\n$ test -f reviews.csv && test -d images/train/cat\n```\n"))
    outputs = run_file(path, sandbox)
    assert [b.lang for b, _ in outputs] == ["text", "python", "console"]
    assert outputs[2][1] == "ALPHA\nBETA\n"


@pytest.mark.parametrize("block, message", [
    ("```python\nimport ulmfit\nulmfit.no_such_function()\n```\n", "broken.md:3: python block failed"),
    ("```bash\nulmfit predict no-such-model 'a text'\n```\n", "broken.md:3: bash block failed"),
    ("```\nulmfit --help\n```\n", "broken.md:3: code block without a language"),
    ("```rust\nfn main() {}\n```\n", "unknown block language 'rust'"),
    ("<!-- doc-test: not-run install -->\n```bash\nulmfit train-classifier --no-such-flag 1\n```\n", "parser refused"),
    ("<!-- doc-test: not-run because -->\n```bash\nls\n```\n", "needs a reason"),
    ("<!-- doc-test: not-run download -->\n```python\ndef broken(:\n```\n", "invalid syntax"),
    ("<!-- doc-test: not-run long -->\n```bash\nls\n```\n", "only for the benchmark pages"),
    ("<!-- doc-test: not-run download -->\n```bash\npython scripts/no_such.py --x\n```\n", "does not exist"),
])
def test_a_broken_block_fails_naming_the_file_and_line(tmp_path, block, message):
    path, sandbox = _doc(tmp_path, "Text.\n\n" + block)
    with pytest.raises((DocBlockError, SyntaxError), match=re.escape(message)):
        run_file(path, sandbox)


def test_shell_commands_join_continuations_and_honour_prompts():
    assert shell_commands("ulmfit a \\\n  --b c   # note\n\n# comment\nls\n") == ["ulmfit a --b c   # note", "ls"]
    assert shell_commands("$ ulmfit --version\nulmfit 0.1\n$ ls\n") == ["ulmfit --version", "ls"]
    assert shell_commands("$ ulmfit a \\\n    --b c\noutput\n") == ["ulmfit a --b c"]
    with pytest.raises(DocBlockError, match="ends in a line continuation"):
        shell_commands("ulmfit a \\\n")
    parse_cli_line("ulmfit train-classifier --lm my_lm --data reviews.csv --out clf | tee log")
    parse_cli_line("torchrun --nproc_per_node 2 -m ulmfit.cli pretrain --data corpus --out lm")
    with pytest.raises(DocBlockError):
        parse_cli_line("ulmfit-vision train --no-such-flag")


def _anchors(path) -> set[str]:
    """GitHub's heading anchors of a Markdown file (lower case, punctuation dropped, spaces to hyphens)."""
    heads = [line.lstrip("#").strip() for line in path.read_text(encoding="utf-8").splitlines()
             if re.match(r"^#{1,6} ", line)]
    return {re.sub(r"[^\w\- ]", "", h.lower()).replace(" ", "-") for h in heads}


@pytest.mark.parametrize("path", doc_files(), ids=lambda p: str(p.relative_to(REPO)))
def test_relative_links_point_at_files_and_headings_that_exist(path):
    text = re.sub(r"```.*?```", "", path.read_text(encoding="utf-8"), flags=re.S)  # links, not code
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"[a-z]+:", target):  # http:, https:, mailto:
            continue
        file, _, anchor = target.partition("#")
        dest = (path.parent / file).resolve() if file else path
        assert dest.exists(), f"{path.name}: link {target!r}: {dest} does not exist"
        if anchor and dest.suffix == ".md":
            assert anchor in _anchors(dest), f"{path.name}: link {target!r}: no heading with that anchor"

"""Run the code blocks of the README and docs/, so that the documentation cannot rot.

Every fenced block needs a language. How each is treated:

* ``python``: written to a file and run with the project's Python in a fresh process;
* ``bash``, ``sh``, ``shell``: run with ``bash -e -o pipefail``; ``console``: the ``$ `` lines are run
  (the rest is their output);
* ``text``, ``csv``, ``tsv``, ``json``, ``jsonl``, ``toml``, ``yaml``, ``html``, ``output``: data or output,
  not run (``text`` is for synopses and printed output).

An HTML comment on the line before a block directs it:

* ``<!-- doc-test: file NAME -->``: the block is written to ``NAME`` in the sandbox instead of being run
  (a CSV the next command reads, a script a later block runs with ``python NAME``);
* ``<!-- doc-test: not-run REASON -->``: the block is checked but not run; REASON is one of
  :data:`NOT_RUN_REASONS` (installing the project, a download, a GPU, or ``long``: a benchmark run of
  minutes to hours, allowed only on the benchmark pages). Python is compiled, every ``ulmfit`` /
  ``ulmfit-vision`` command line is parsed by the CLI's own argument parser, and every ``scripts/NAME.py``
  a command runs must exist.

The blocks of one Markdown file run in order in one sandbox folder (a tutorial: a later block may use the
files an earlier one wrote) that holds the fixtures of :func:`make_fixtures`: ``reviews.csv`` (text, label),
``new_reviews.csv`` (id, text), ``texts.txt``, ``corpus/`` (plain-text files), ``images/`` (``train/`` +
``val/``, one folder per class), symlinks to the repository's ``scripts/`` and ``pretrained/``, and a cache
(``$ULMFIT_HOME``) in which ``imagenette-160`` is already downloaded (a tiny stand-in with the real folder
names), so no block touches the network. Sizes are made tiny by ``tests/doc_sitecustomize`` (imported by
every process a block starts): each training run gets one epoch at most, the LR finder 8 steps, the demo
48 / 16 of its reviews. What the blocks print is kept for the failure message.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shlex
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SITECUSTOMIZE = Path(__file__).resolve().parent / "doc_sitecustomize"

RUN_PYTHON = {"python", "py"}
RUN_SHELL = {"bash", "sh", "shell", "console"}
NOT_CODE = {"text", "csv", "tsv", "json", "jsonl", "toml", "yaml", "html", "output"}
NOT_RUN_REASONS = {"install", "download", "gpu", "long"}  # long: a benchmark run, only in the benchmark pages
LONG_ALLOWED = ("docs/BENCHMARKS.md", "docs/benchmarks/")

_FENCE = re.compile(r"^(?P<indent> {0,3})(?P<fence>`{3,}|~{3,})(?P<info>[^`]*)$")
_DIRECTIVE = re.compile(r"^<!--\s*doc-test:\s*(?P<what>[a-z-]+)\s*(?P<arg>.*?)\s*-->\s*$")


@dataclasses.dataclass
class Block:
    path: Path
    line: int          # 1-based line of the opening fence
    lang: str
    code: str
    directive: str = ""   # "", "file", "not-run"
    arg: str = ""

    @property
    def where(self) -> str:
        try:
            rel = self.path.relative_to(REPO)
        except ValueError:
            rel = self.path
        return f"{rel}:{self.line}"


class DocBlockError(AssertionError):
    """A block that is malformed, or that failed when run; the message names the file and line."""


def doc_files() -> list[Path]:
    """The README and every Markdown file under docs/."""
    return [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md"))]


def extract_blocks(path: Path) -> list[Block]:
    """Every fenced block of ``path``, in order, with the directive on the line before it."""
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    blocks, i = [], 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        fence, info, start = m["fence"], m["info"].strip(), i
        body = []
        i += 1
        while i < len(lines) and not (lines[i].strip().startswith(fence[0] * len(fence))
                                      and set(lines[i].strip()) == {fence[0]}):
            body.append(lines[i][len(m["indent"]):] if lines[i].startswith(m["indent"]) else lines[i])
            i += 1
        if i == len(lines):
            raise DocBlockError(f"{Block(path, start + 1, '', '').where}: code block never closed")
        i += 1
        prev = next((lines[j] for j in range(start - 1, -1, -1) if lines[j].strip()), "")
        d = _DIRECTIVE.match(prev.strip())
        blocks.append(Block(Path(path), start + 1, info.split()[0].lower() if info else "", "\n".join(body) + "\n",
                            d["what"] if d else "", d["arg"] if d else ""))
    return blocks


def check_block(block: Block) -> None:
    """Raise :class:`DocBlockError` for a block the runner cannot treat (no language, unknown directive)."""
    if not block.lang:
        raise DocBlockError(f"{block.where}: code block without a language; use python, bash, console, or text "
                            "for output and synopses")
    if block.lang not in RUN_PYTHON | RUN_SHELL | NOT_CODE:
        raise DocBlockError(f"{block.where}: unknown block language {block.lang!r} (known: "
                            f"{', '.join(sorted(RUN_PYTHON | RUN_SHELL | NOT_CODE))})")
    if block.directive not in ("", "file", "not-run"):
        raise DocBlockError(f"{block.where}: unknown directive 'doc-test: {block.directive}' (file NAME, "
                            "not-run REASON)")
    if block.directive == "file" and (not block.arg or Path(block.arg).is_absolute() or ".." in Path(block.arg).parts):
        raise DocBlockError(f"{block.where}: 'doc-test: file' needs a relative file name, got {block.arg!r}")
    if block.directive == "not-run" and block.arg.split(" ")[0] not in NOT_RUN_REASONS:
        raise DocBlockError(f"{block.where}: 'doc-test: not-run' needs a reason from {sorted(NOT_RUN_REASONS)}, "
                            f"got {block.arg!r}")
    if block.directive == "not-run" and block.arg.split(" ")[0] == "long" and \
            not any(block.where.startswith(prefix) for prefix in LONG_ALLOWED):
        raise DocBlockError(f"{block.where}: 'not-run long' is only for the benchmark pages "
                            f"({', '.join(LONG_ALLOWED)})")


def shell_commands(code: str) -> list[str]:
    """The command lines of a shell block: continuations joined, ``console`` prompts honoured (a ``$ `` line
    ending in a backslash continues on the next lines, which have no prompt; the other lines are output)."""
    raw = code.splitlines()
    if any(line.startswith("$ ") for line in raw):
        kept, going_on = [], False
        for line in raw:
            if line.startswith("$ ") or going_on:
                kept.append(line[2:] if line.startswith("$ ") and not going_on else line)
                going_on = line.rstrip().endswith("\\")
        raw = kept
    out, cur = [], ""
    for line in raw:
        if line.rstrip().endswith("\\"):
            cur += line.strip()[:-1].strip() + " "
            continue
        cur += line.strip() if cur else line
        if cur.strip() and not cur.strip().startswith("#"):
            out.append(cur.strip())
        cur = ""
    if cur.strip():
        raise DocBlockError(f"a shell block ends in a line continuation: {cur.strip()!r}")
    return out


def parse_cli_line(command: str) -> None:
    """Parse an ``ulmfit`` / ``ulmfit-vision`` command line with the CLI's own parser (no side effects)."""
    words = shlex.split(command, comments=True)
    for sep in ("|", ">", "&&", ";"):
        if sep in words:
            words = words[:words.index(sep)]
    if not words:
        return
    script = next((w for w in words if w.startswith("scripts/") and w.endswith(".py")), None)
    if script and not (REPO / script).is_file():
        raise DocBlockError(f"{command!r}: {script} does not exist")
    prog = Path(words[0]).name
    if prog == "torchrun":
        if "-m" not in words:
            return
        k = words.index("-m")
        prog, words = words[k + 1].split(".")[0].replace("vision", "ulmfit-vision"), words[k + 1:]
    if prog not in ("ulmfit", "ulmfit-vision"):
        return
    if prog == "ulmfit":
        from ulmfit.cli import build_parser
    else:
        from vision.cli import build_parser
    try:
        build_parser().parse_args(words[1:])
    except SystemExit as exc:
        if exc.code:
            raise DocBlockError(f"{command!r}: the {prog} parser refused it (exit {exc.code})") from None


def make_fixtures(sandbox: Path) -> dict[str, str]:
    """Fill ``sandbox`` with the files the docs use; returns the environment the blocks run with."""
    import csv

    from ulmfit.demo_data import load_reviews

    texts, labels = load_reviews("train")
    with open(sandbox / "reviews.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["text", "label"])
        w.writerows(zip(texts[:48], labels[:48]))
    vtexts, _ = load_reviews("valid")
    with open(sandbox / "new_reviews.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["id", "text"])
        w.writerows((f"r{i}", t) for i, t in enumerate(vtexts[:6], 1))
    (sandbox / "texts.txt").write_text("\n".join(vtexts[6:10]) + "\n", encoding="utf-8")
    (sandbox / "corpus").mkdir()
    for k in range(3):
        (sandbox / "corpus" / f"part{k}.txt").write_text("\n\n".join(texts[k * 40:(k + 1) * 40]) + "\n",
                                                         encoding="utf-8")
    _image_folder(sandbox / "images", ("cat", "dog"), 6)
    for name in ("scripts", "pretrained"):
        (sandbox / name).symlink_to(REPO / name)
    home = sandbox / "ulmfit-home"
    _fake_imagenette(home, sandbox / "_tmp")
    env = dict(os.environ)
    env.update({
        "ULMFIT_HOME": str(home), "ULMFIT_DOC_TEST": "1", "ULMFIT_SHARED_DATA": env.get("ULMFIT_SHARED_DATA", ""),
        "PYTHONPATH": os.pathsep.join([str(SITECUSTOMIZE), str(REPO)]),
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")]),
        "OMP_NUM_THREADS": env.get("OMP_NUM_THREADS", "1"), "NO_COLOR": "1", "PYTHONHASHSEED": "0",
    })
    if not env["ULMFIT_SHARED_DATA"]:
        del env["ULMFIT_SHARED_DATA"]
    return env


def _image_folder(root: Path, classes: tuple[str, ...], per_class: int, size: int = 40) -> None:
    """``root/train/<class>/*.png`` and ``root/val/<class>/*.png``: flat colours with noise, class by hue."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    for split, n in (("train", per_class), ("val", max(2, per_class // 2))):
        for c, name in enumerate(classes):
            (root / split / name).mkdir(parents=True)
            for k in range(n):
                base = np.zeros((size, size, 3)) + (200 if c == 0 else 40, 90, 40 if c == 0 else 200)
                img = np.clip(base + rng.normal(0, 25, base.shape), 0, 255).astype("uint8")
                Image.fromarray(img).save(root / split / name / f"{name}{k}.png")


def _fake_imagenette(home: Path, tmp: Path) -> None:
    """Place a tiny ``imagenette2-160.tgz`` (two of the real class folders) in the download cache, as a user
    would on an offline machine; ``ulmfit-vision --data imagenette-160`` then extracts it without a network."""
    tmp.mkdir(parents=True)
    _image_folder(tmp / "imagenette2-160", ("n01440764", "n02102040"), 6)
    (home / "downloads").mkdir(parents=True)
    with tarfile.open(home / "downloads" / "imagenette2-160.tgz", "w:gz") as tar:
        tar.add(tmp / "imagenette2-160", arcname="imagenette2-160")
    shutil.rmtree(tmp)


def run_block(block: Block, sandbox: Path, env: dict[str, str], index: int, timeout: float = 600) -> str:
    """Run one block in ``sandbox``; returns its output, raises :class:`DocBlockError` when it fails."""
    check_block(block)
    if block.directive == "file":
        target = sandbox / block.arg
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(block.code, encoding="utf-8")
        return ""
    if block.directive == "not-run":
        if block.lang in RUN_PYTHON:
            compile(block.code, block.where, "exec")
        elif block.lang in RUN_SHELL:
            for command in shell_commands(block.code):
                parse_cli_line(command)
        return ""
    if block.lang in RUN_PYTHON:
        script = sandbox / f"_block{index:02d}.py"
        script.write_text(block.code, encoding="utf-8")
        cmd = [sys.executable, script.name]
    elif block.lang in RUN_SHELL:
        cmd = ["bash", "-e", "-o", "pipefail", "-c", "\n".join(shell_commands(block.code))]
    else:
        return ""
    try:
        proc = subprocess.run(cmd, cwd=sandbox, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise DocBlockError(f"{block.where}: still running after {timeout:.0f} s") from None
    output = proc.stdout + proc.stderr
    if proc.returncode != 0:
        tail = "\n".join(output.splitlines()[-25:])
        raise DocBlockError(f"{block.where}: {block.lang} block failed (exit {proc.returncode}):\n{block.code}\n"
                            f"--- output (last 25 lines) ---\n{tail}")
    return output


def run_file(path: Path, sandbox: Path, timeout: float = 600) -> list[tuple[Block, str]]:
    """Run every block of one Markdown file in order in ``sandbox``; returns (block, output) pairs."""
    blocks = extract_blocks(path)
    for block in blocks:
        check_block(block)
    env = make_fixtures(sandbox)
    return [(b, run_block(b, sandbox, env, k, timeout)) for k, b in enumerate(blocks)]

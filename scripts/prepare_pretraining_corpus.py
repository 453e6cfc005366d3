"""Turn the five NLTK pretraining corpora into a folder of plain-text documents.

The shipped English LM (``pretrained/en_small_fwd``) is pretrained on Brown, ABC, State of the Union,
Webtext and Inaugural (about 2.6 M words). This script reads the original NLTK zips (never copied into
the project), strips Brown's ``word/tag`` annotation, cuts very long files into documents of roughly
``--doc-words`` words at paragraph or line boundaries, and writes one ``.txt`` file per document, ready
for ``ulmfit pretrain --data OUT``.

    python scripts/prepare_pretraining_corpus.py --nltk ../shared/data/nltk --out /tmp/ulmfit_corpus
"""

from __future__ import annotations

import argparse
import re
import zipfile
from collections.abc import Iterator
from pathlib import Path

CORPORA = ("brown", "abc", "state_union", "webtext", "inaugural")
_BROWN_QUOTES = {"``": '"', "''": '"'}


def brown_to_text(raw: str) -> str:
    """``The/at jury/nn ./.`` -> ``The jury .``; sentences stay on their own lines."""
    lines = []
    for line in raw.splitlines():
        words = [tok.rsplit("/", 1)[0] for tok in line.split()]
        if words:
            lines.append(" ".join(_BROWN_QUOTES.get(w, w) for w in words))
    return "\n".join(lines)


def split_document(text: str, doc_words: int) -> Iterator[str]:
    """Cut ``text`` at line boundaries into pieces of about ``doc_words`` words."""
    piece: list[str] = []
    count = 0
    for line in text.splitlines():
        piece.append(line)
        count += len(line.split())
        if count >= doc_words and not line.strip() or count >= 2 * doc_words:
            yield "\n".join(piece).strip()
            piece, count = [], 0
    if piece and "\n".join(piece).strip():
        yield "\n".join(piece).strip()


def corpus_documents(zip_path: Path, name: str, doc_words: int) -> Iterator[tuple[str, str]]:
    with zipfile.ZipFile(zip_path) as zf:
        for member in sorted(zf.namelist()):
            base = member.rsplit("/", 1)[-1]
            if member.endswith("/") or base.upper().startswith("README") or base in {"CONTENTS", "cats.txt"}:
                continue
            raw = zf.read(member).decode("utf-8", errors="replace")
            text = brown_to_text(raw) if name == "brown" else raw
            stem = re.sub(r"[^A-Za-z0-9_.-]", "_", base)
            for k, doc in enumerate(split_document(text, doc_words)):
                if doc:
                    yield f"{name}-{stem}-{k:04d}", doc


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nltk", type=Path, default=Path(__file__).resolve().parents[2] / "shared/data/nltk")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--doc-words", type=int, default=2000, help="target words per document (default 2000)")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    total_docs = total_words = 0
    for name in CORPORA:
        zip_path = args.nltk / f"{name}.zip"
        if not zip_path.is_file():
            raise SystemExit(f"error: {zip_path} not found (expected the NLTK zips in --nltk {args.nltk})")
        n_docs = n_words = 0
        for doc_id, doc in corpus_documents(zip_path, name, args.doc_words):
            (args.out / f"{doc_id}.txt").write_text(doc + "\n", encoding="utf-8")
            n_docs += 1
            n_words += len(doc.split())
        print(f"{name:12s} {n_docs:6d} documents {n_words:9,d} words")
        total_docs += n_docs
        total_words += n_words
    print(f"{'total':12s} {total_docs:6d} documents {total_words:9,d} words -> {args.out}")


if __name__ == "__main__":
    main()

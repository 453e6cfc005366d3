"""Turn NLTK-data corpora into a folder of plain-text documents for LM pretraining.

The shipped English LM (``pretrained/en_small_fwd``) is pretrained on Brown, ABC, State of the Union,
Webtext and Inaugural (about 2.6 M words). This script reads the original NLTK zips (never copied into
the project) and builds a larger corpus (about 5-6 M words): those five plus MASC, product reviews,
comparative sentences, NPS chat, Penn Treebank and CoNLL-2000 WSJ text, Switchboard transcripts,
problem reports, RTE, IEER newswire, Senseval contexts and the movie_reviews polarity reviews
(``--list`` names them all). Each corpus has a small reader that strips its markup (``word/TAG``,
``word_TAG``, XML, SGML, annotations) and yields whole documents; files longer than about
``--doc-words`` words are cut at paragraph or line boundaries, and corpora of short pieces (sentences,
pairs, contexts) are grouped into documents of about ``--doc-words`` words. Duplicates are dropped:
a document equal to an earlier one after whitespace normalisation, or one whose lines of 6+ words were
mostly (half or more) in earlier corpora (several corpora copy parts of others). The result is one
``.txt`` file per document, named ``{corpus}-{source}-{k:04d}.txt``, plus ``corpus_stats.json``, ready
for ``ulmfit pretrain --data OUT``.

``qc`` (TREC) and ``sentence_polarity`` (MR) are evaluation sets and are refused even when asked for.
Text is decoded as UTF-8, line by line falling back to cp1252 then latin-1 (a few files mix encodings;
Big5-encoded punctuation in some State of the Union / Inaugural files is repaired).

    python scripts/prepare_pretraining_corpus.py --out /tmp/ulmfit_corpus
    python scripts/prepare_pretraining_corpus.py --corpora release1 --out DIR   # the first model's five corpora
    python scripts/prepare_pretraining_corpus.py --list

``--nltk`` defaults to ``$ULMFIT_SHARED_DATA/nltk`` when that variable is set, else ``../shared/data/nltk``
beside the project.
"""

from __future__ import annotations

import argparse
import html
import json
import os
import re
import sys
import xml.etree.ElementTree as ET
import zipfile
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

Reader = Callable[[zipfile.ZipFile, int], Iterator[tuple[str, str]]]

# The corpora the first shipped model was pretrained on (kept byte-compatible apart from decoding).
RELEASE1_CORPORA = ("brown", "abc", "state_union", "webtext", "inaugural")
# Never pretrain on these: they are the benchmarks the classifier is evaluated on.
EXCLUDED = {
    "qc": "an evaluation set (TREC question classification, the TREC-6 benchmark)",
    "sentence_polarity": "an evaluation set (MR movie-review sentence polarity benchmark)",
}
_BROWN_QUOTES = {"``": '"', "''": '"'}
# Penn-Treebank token escapes, as found in CoNLL-2000 and Senseval.
_PTB_WORDS = {"``": '"', "''": '"', "-LRB-": "(", "-RRB-": ")", "-LCB-": "{", "-RCB-": "}",
              "-LSB-": "[", "-RSB-": "]"}
# A POS tag after the last ``/`` or ``_`` of a token: upper-case letters (``NN``, ``PRP$``, ``VBG|NN``)
# or punctuation (``,``, ``''``); never digits or lower case, so ``HTTP/1.1`` and ``and/or`` survive.
_TAG = re.compile(r"[A-Z][A-Z$`|]*|[^\w\s]+")
_SGML_TAG = re.compile(r"<[^<>]*>")
# Big5 punctuation that leaked into some State of the Union / Inaugural files (e.g. ``America\xa1\xa6s``).
_BIG5_PUNCT = {b"\xa1\xa6": "\u2019", b"\xa1\xa5": "\u2018", b"\xa1\xa7": "\u201c", b"\xa1\xa8": "\u201d",
               b"\xa1X": "\u2014", b"\xa1K": "\u2026", b"\xa1@": " "}
_RE_BIG5 = re.compile(b"|".join(re.escape(k) for k in _BIG5_PUNCT))


# ---------------------------------------------------------------- decoding and splitting helpers
def decode(raw: bytes) -> str:
    """UTF-8 text of ``raw``; lines that are not UTF-8 are read as cp1252 (else latin-1)."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        pass
    lines = []
    for line in raw.split(b"\n"):
        try:
            lines.append(line.decode("utf-8"))
            continue
        except UnicodeDecodeError:
            pass
        parts = _RE_BIG5.split(line)
        marks = [_BIG5_PUNCT[m] for m in _RE_BIG5.findall(line)] + [""]
        text = ""
        for part, mark in zip(parts, marks):
            try:
                text += part.decode("cp1252") + mark
            except UnicodeDecodeError:
                text += part.decode("latin-1") + mark
        lines.append(text)
    return "\n".join(lines)


def safe_stem(name: str) -> str:
    """A file-name-safe version of a member's base name (``Canon G3.txt`` -> ``Canon_G3.txt``)."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name.rsplit("/", 1)[-1])


def strip_tag(token: str, sep: str) -> str:
    """``word/NN`` -> ``word`` (``sep="/"``); a token whose suffix is not a POS tag is kept whole."""
    word, found, tag = token.rpartition(sep)
    return word if found and word and _TAG.fullmatch(tag) else token


def untag_line(line: str, sep: str) -> str:
    """Strip the POS tag of every token of a ``word/TAG`` (or ``word_TAG``) line."""
    return " ".join(strip_tag(tok, sep) for tok in line.split())


def squeeze_blank_lines(text: str) -> str:
    """Trailing spaces off every line, runs of blank lines down to one, no blank lines at the ends."""
    text = "\n".join(line.rstrip() for line in text.splitlines())
    return re.sub(r"\n{3,}", "\n\n", text).strip()


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


def group_units(units: Iterable[str], doc_words: int) -> Iterator[str]:
    """Join short units (sentences, pairs, contexts) line by line into documents of about ``doc_words`` words."""
    piece: list[str] = []
    count = 0
    for unit in units:
        unit = unit.strip()
        if not unit:
            continue
        piece.append(unit)
        count += len(unit.split())
        if count >= doc_words:
            yield "\n".join(piece)
            piece, count = [], 0
    if piece:
        yield "\n".join(piece)


def text_members(zf: zipfile.ZipFile, pattern: str = r".*") -> Iterator[tuple[str, str]]:
    """``(stem, text)`` of every data file whose path matches ``pattern`` (READMEs, folders skipped)."""
    for member in sorted(zf.namelist()):
        base = member.rsplit("/", 1)[-1]
        if member.endswith("/") or base.upper().startswith("README") or base in {"CONTENTS", "cats.txt"}:
            continue
        if re.fullmatch(pattern, member):
            yield safe_stem(base), decode(zf.read(member))


# ---------------------------------------------------------------- the first release's five corpora
def brown_to_text(raw: str) -> str:
    """``The/at jury/nn ./.`` -> ``The jury .``; sentences stay on their own lines."""
    lines = []
    for line in raw.splitlines():
        words = [tok.rsplit("/", 1)[0] for tok in line.split()]
        if words:
            lines.append(" ".join(_BROWN_QUOTES.get(w, w) for w in words))
    return "\n".join(lines)


def read_brown(zf: zipfile.ZipFile, doc_words: int) -> Iterator[tuple[str, str]]:
    """Brown: one document per file, ``word/tag`` tokens stripped to words."""
    for stem, raw in text_members(zf):
        yield stem, brown_to_text(raw)


def read_plain(zf: zipfile.ZipFile, doc_words: int) -> Iterator[tuple[str, str]]:
    """ABC, State of the Union, Webtext, Inaugural: plain text, one document per file."""
    yield from text_members(zf)


# ---------------------------------------------------------------- the further corpora
def read_masc(zf: zipfile.ZipFile, doc_words: int) -> Iterator[tuple[str, str]]:
    """MASC: ``word_TAG`` tokens, one sentence per line; one document per file."""
    for stem, raw in text_members(zf, r".*/(spoken|written)/[^/]+\.txt"):
        yield stem, squeeze_blank_lines("\n".join(untag_line(line, "_") for line in raw.splitlines()))


# Hu & Liu opinion annotations: ``[+2]``, ``[-1]``, ``[u]``, ``[p]``, ``[s]``, ``[cc]``, ``[cs]``.
_OPINION = r"\[(?:[+-]\d*|u|p|s|cc|cs)\]"
# ``feature[+2], other feature[-1][u]`` at the start of a sentence (the ``##`` separator may be missing).
_LEADING_FEATURES = re.compile(rf"^\s*(?:[^.!?#\[\]]{{0,60}}?(?:{_OPINION})+\s*,?\s*)+")
# The same annotations at the end of a piece, before the next sentence's ``##`` on the same line.
_TRAILING_FEATURES = re.compile(
    rf"(?:(?<=[.!?\"')])\s+|\s{{2,}})[^.!?#]{{0,60}}?(?:{_OPINION})+(?:\s*,\s*[^.!?#,]{{0,60}}?(?:{_OPINION})+)*\s*$")


def review_sentences(line: str) -> list[str]:
    """``picture[+2]##they fired away .`` -> ``["they fired away ."]``; annotations dropped.

    A line normally holds ``features##sentence``; some hold several ``##`` sentences, or a single ``#``.
    """
    pieces = re.split(r"##+", line) if "##" in line else line.split("#", 1)
    pieces = pieces[1:] if len(pieces) > 1 else [_LEADING_FEATURES.sub("", line, count=1)]
    sentences = []
    for piece in pieces:
        piece = _TRAILING_FEATURES.sub("", piece)
        piece = re.sub(_OPINION, "", _LEADING_FEATURES.sub("", piece, count=1))
        if piece := " ".join(piece.split()):
            sentences.append(piece)
    return sentences


def read_product_reviews(zf: zipfile.ZipFile, doc_words: int) -> Iterator[tuple[str, str]]:
    """Hu & Liu product reviews: ``*`` comments skipped, ``[t]title`` starts a review; one document per review."""
    for stem, raw in text_members(zf, r".*\.txt"):
        review: list[str] = []
        for line in raw.splitlines():
            if line.startswith("*") or not line.strip():
                continue
            if line.startswith("[t]"):
                if review:
                    yield stem, "\n".join(review)
                title = " ".join(line[3:].split())
                review = [title] if title else []
            else:
                review += review_sentences(line)
        if review:
            yield stem, "\n".join(review)


_CS_TAG = re.compile(r"<?/?cs-\d+>")  # ``<cs-1>``, ``</cs-1>`` (and one ``/cs-2>`` typo)
# The relation lines after a comparative sentence: ``1_creative zen 2_ipod 3_quality (better)``, ``(best)``.
_CS_RELATION = re.compile(r"^\s*\*?\s*\d_\S")
_CS_KEYWORD = re.compile(r"^\s*\([^()]*\)\s*$")


def read_comparative(zf: zipfile.ZipFile, doc_words: int) -> Iterator[tuple[str, str]]:
    """Jindal & Liu comparative sentences: ``<cs-N>`` tag lines, relation lines and ``***`` headers dropped.

    The ``***`` banners separate sources (one product's reviews, one article); each source's sentences are
    grouped into documents of about ``doc_words`` words.
    """
    for stem, raw in text_members(zf, r".*/labeledSentences\.txt"):
        lines = raw.splitlines()
        banners = [i for i, line in enumerate(lines) if line.startswith("***")]
        headers = {j for a, b in zip(banners, banners[1:]) if b - a <= 4 for j in range(a, b)}
        section: list[str] = []
        after_close = False
        for i, line in enumerate(lines):
            if line.startswith("***"):
                yield from ((stem, doc) for doc in group_units(section, doc_words))
                section = []
                continue
            if i in headers:
                continue
            if _CS_TAG.search(line):  # ``<cs-1>``, ``</cs-1></cs-2>``, ``</cs-3> (best)``
                after_close = "/" in line
                line = _CS_TAG.sub("", line).strip()
                if not re.search(r"\w", line):
                    continue
            if _CS_RELATION.match(line) or after_close and _CS_KEYWORD.match(line):
                continue
            after_close = False
            section.append(line)
        yield from ((stem, doc) for doc in group_units(section, doc_words))


def read_nps_chat(zf: zipfile.ZipFile, doc_words: int) -> Iterator[tuple[str, str]]:
    """NPS Chat: the text of each ``<Post>`` (system JOIN/PART messages dropped); one document per session file."""
    for member in sorted(zf.namelist()):
        if not member.endswith("posts.xml"):
            continue
        root = ET.fromstring(zf.read(member))
        posts = [" ".join((p.text or "").split()) for p in root.iter("Post") if p.get("class") != "System"]
        yield safe_stem(member), "\n".join(p for p in posts if p)


def read_treebank(zf: zipfile.ZipFile, doc_words: int) -> Iterator[tuple[str, str]]:
    """Penn Treebank sample: ``raw/wsj_NNNN`` files, the text after the ``.START`` line."""
    for stem, raw in text_members(zf, r".*/raw/wsj_\d+"):
        lines = raw.splitlines()
        start = next((i + 1 for i, line in enumerate(lines) if line.startswith(".START")), 0)
        yield stem, squeeze_blank_lines("\n".join(lines[start:]))


def ptb_words(words: Iterable[str]) -> str:
    """Treebank tokens as text: ``-LRB-`` -> ``(``, ``1\\/2`` -> ``1/2``, `````` -> ``"``."""
    return " ".join(_PTB_WORDS.get(w, w).replace("\\/", "/").replace("\\*", "*") for w in words)


def read_conll2000(zf: zipfile.ZipFile, doc_words: int) -> Iterator[tuple[str, str]]:
    """CoNLL-2000: ``word POS chunk`` lines, a blank line between sentences; sentences grouped into documents."""
    for stem, raw in text_members(zf, r".*\.txt"):
        sentences, words = [], []
        for line in raw.splitlines() + [""]:
            if line.strip():
                words.append(line.split()[0])
            elif words:
                sentences.append(ptb_words(words))
                words = []
        yield from ((stem, doc) for doc in group_units(sentences, doc_words))


_SPEAKER = re.compile(r"^[A-Z]\.\d+:\s*")
_NOISE = re.compile(r"<+[^<>]*>")


def read_switchboard(zf: zipfile.ZipFile, doc_words: int) -> Iterator[tuple[str, str]]:
    """Switchboard ``transcript``: ``A.1: utterance`` lines, ``<laughter>`` marks dropped; one document per call."""
    for stem, raw in text_members(zf, r".*/transcript"):
        for dialogue in re.split(r"\n\s*\n", raw):
            turns = [" ".join(_NOISE.sub(" ", _SPEAKER.sub("", line)).split()) for line in dialogue.splitlines()]
            if text := "\n".join(t for t in turns if t):
                yield stem, text


def read_problem_reports(zf: zipfile.ZipFile, doc_words: int) -> Iterator[tuple[str, str]]:
    """Problem reports: one POS-tagged (``word/TAG``) bug-report title per line; titles grouped into documents."""
    for stem, raw in text_members(zf):
        yield from ((stem, doc) for doc in group_units((untag_line(l, "/") for l in raw.splitlines()), doc_words))


def read_rte(zf: zipfile.ZipFile, doc_words: int) -> Iterator[tuple[str, str]]:
    """RTE 1-3: each pair's ``<t>`` text then its ``<h>`` hypothesis (a text shared by consecutive pairs once).

    Pairs are grouped into documents of about ``doc_words`` words.
    """
    for member in sorted(zf.namelist()):
        if not member.endswith(".xml"):
            continue
        units: list[list[str]] = []
        last_t = None
        for pair in ET.fromstring(zf.read(member)).iter("pair"):
            t = " ".join(pair.findtext("t", "").split())
            h = " ".join(pair.findtext("h", "").split())
            if t != last_t or not units:
                units.append([t])
                last_t = t
            units[-1].append(h)
        yield from ((safe_stem(member), doc) for doc in group_units(("\n".join(u) for u in units), doc_words))


def ieer_story(doc: str) -> str:
    """One IEER ``<DOC>``: its headline and the ``<TEXT>`` paragraphs, entity tags and annotations dropped."""
    doc = re.sub(r"<ANNOTATION>.*?</ANNOTATION>", "", doc, flags=re.S)
    headline = re.search(r"<HEADLINE>(.*?)</HEADLINE>", doc, re.S)
    body = re.search(r"<TEXT>(.*?)</TEXT>", doc, re.S)
    paragraphs = [headline.group(1)] if headline else []
    if body:  # a paragraph starts at an indented line; the lines in between are wrapped
        paragraphs += re.split(r"\n(?=[ \t])", body.group(1))
    lines = (" ".join(html.unescape(_SGML_TAG.sub("", p)).split()) for p in paragraphs)
    return "\n".join(line for line in lines if line)


def read_ieer(zf: zipfile.ZipFile, doc_words: int) -> Iterator[tuple[str, str]]:
    """IEER newswire: one document per story (``<DOC>``), named by its ``<DOCNO>``."""
    for _, raw in text_members(zf):
        for doc in re.findall(r"<DOC>.*?</DOC>", raw, re.S):
            docno = re.search(r"<DOCNO>\s*(\S+)\s*</DOCNO>", doc)
            if story := ieer_story(doc):
                yield safe_stem(docno.group(1) if docno else "doc"), story


def senseval_context(context: str) -> str:
    """A Senseval ``<context>``: the ``<wf pos=..>word</wf>`` words, markup dropped (``FRASL`` -> ``/``)."""
    lines = []
    for line in context.splitlines():
        words = html.unescape(_SGML_TAG.sub(" ", line)).split()
        if words:
            lines.append(ptb_words("/" if w == "FRASL" else w for w in words))
    return "\n".join(lines)


def read_senseval(zf: zipfile.ZipFile, doc_words: int) -> Iterator[tuple[str, str]]:
    """Senseval (hard, interest, line, serve): the ``<context>`` passages, grouped into documents."""
    for stem, raw in text_members(zf, r".*\.pos"):
        contexts = (senseval_context(c) for c in re.findall(r"<context>(.*?)</context>", raw, re.S))
        yield from ((stem, doc) for doc in group_units(contexts, doc_words))


def read_movie_reviews(zf: zipfile.ZipFile, doc_words: int) -> Iterator[tuple[str, str]]:
    """Polarity data v2.0: one document per full review (``pos/`` and ``neg/``, lower-cased, tokenised)."""
    for member in sorted(zf.namelist()):
        if m := re.fullmatch(r".*/(pos|neg)/([^/]+\.txt)", member):
            yield safe_stem(f"{m.group(1)}_{m.group(2)}"), decode(zf.read(member)).strip()


CORPORA: dict[str, tuple[Reader, str]] = {
    "brown": (read_brown, "Brown corpus, 15 genres of 1961 American English (word/tag stripped)"),
    "abc": (read_plain, "Australian Broadcasting Commission rural and science transcripts"),
    "state_union": (read_plain, "US State of the Union addresses 1945-2006"),
    "webtext": (read_plain, "web text: Firefox forum, film script, overheard, pirates, personals, wine"),
    "inaugural": (read_plain, "US presidential inaugural addresses 1789-2021"),
    "masc_tagged": (read_masc, "MASC modern American English, 19 genres (word_TAG stripped)"),
    "product_reviews_1": (read_product_reviews, "Amazon reviews of 5 products (Hu & Liu 2004), one per review"),
    "product_reviews_2": (read_product_reviews, "Amazon reviews of 9 more products (Hu & Liu), one per review"),
    "comparative_sentences": (read_comparative, "review and article sentences (Jindal & Liu 2006), grouped"),
    "nps_chat": (read_nps_chat, "NPS online chat posts, one document per session"),
    "treebank": (read_treebank, "Penn Treebank WSJ sample, raw news text"),
    "conll2000": (read_conll2000, "CoNLL-2000 WSJ sentences (sections 15-18, 20), grouped"),
    "switchboard": (read_switchboard, "Switchboard telephone conversations, one document per call"),
    "problem_reports": (read_problem_reports, "software bug-report titles (word/TAG stripped), grouped"),
    "rte": (read_rte, "RTE 1-3 text/hypothesis pairs (news), grouped"),
    "ieer": (read_ieer, "NYT and AP newswire 1998 (IEER), one document per story"),
    "senseval": (read_senseval, "Senseval contexts of hard/interest/line/serve, grouped"),
    "movie_reviews": (read_movie_reviews, "2,000 full movie reviews (polarity v2.0), one per review"),
}


# ---------------------------------------------------------------- building the folder
def corpus_documents(zip_path: Path, name: str, doc_words: int) -> Iterator[tuple[str, str]]:
    """``(doc_id, text)`` for every document of corpus ``name``: read, markup stripped, long ones split."""
    reader = CORPORA[name][0]
    pieces: Counter[str] = Counter()
    with zipfile.ZipFile(zip_path) as zf:
        for stem, text in reader(zf, doc_words):
            for doc in split_document(text, doc_words):
                if doc:
                    yield f"{name}-{stem}-{pieces[stem]:04d}", doc
                    pieces[stem] += 1


def parse_corpora(spec: str) -> list[str]:
    """``"brown,abc"`` -> ``["brown", "abc"]`` (``release1``: the first model's five corpora).

    Exits with a one-line error on an evaluation set or an unknown name.
    """
    names = [n.strip() for n in spec.split(",") if n.strip()]
    names = [m for n in names for m in (RELEASE1_CORPORA if n == "release1" else (n,))]
    for n in names:
        if n in EXCLUDED:
            raise SystemExit(f"error: refusing corpus {n!r}: it is {EXCLUDED[n]} and must never be pretrained on")
        if n not in CORPORA:
            raise SystemExit(f"error: unknown corpus {n!r}; known: {', '.join(CORPORA)} (see --list)")
    if not names:
        raise SystemExit("error: --corpora is empty")
    return list(dict.fromkeys(names))


def default_nltk_dir() -> Path:
    """``$ULMFIT_SHARED_DATA/nltk`` when the variable is set, else ``../shared/data/nltk`` beside the project."""
    shared = os.environ.get("ULMFIT_SHARED_DATA")
    return Path(shared) / "nltk" if shared else Path(__file__).resolve().parents[2] / "shared/data/nltk"


def normalise(text: str) -> str:
    """The duplicate-detection key of a document: its words joined by single spaces."""
    return " ".join(text.split())


# A document whose long lines mostly appeared in earlier corpora is a copy (webtext's and problem_reports'
# Firefox bug titles, comparative_sentences' Amazon reviews).
OVERLAP = 0.5
MIN_LINE_WORDS = 6


def long_lines(doc: str) -> list[str]:
    """The normalised lines of ``doc`` with at least ``MIN_LINE_WORDS`` words (the overlap test's unit)."""
    return [" ".join(words) for line in doc.splitlines() if len(words := line.split()) >= MIN_LINE_WORDS]


def count_tokens(texts: list[str], n_workers: int) -> int:
    """Tokens the project's default (spaCy, fastai rules) tokenizer makes of ``texts``, ``xxbos`` etc. included."""
    from ulmfit.text import Tokenizer  # lazy: spaCy is slow to import

    return sum(len(toks) for toks in Tokenizer(lang="en").tokenize(texts, n_workers=n_workers))


def build(names: list[str], nltk_dir: Path, out: Path, doc_words: int, tokens: bool = False,
          n_workers: int = 1) -> dict:
    """Write every document of ``names`` to ``out`` and return the per-corpus statistics."""
    out.mkdir(parents=True, exist_ok=True)
    seen: set[str] = set()
    seen_lines: set[str] = set()
    stats: dict[str, dict[str, int]] = {}
    for name in names:
        row = {"documents": 0, "words": 0, "duplicates_dropped": 0}
        texts, corpus_lines = [], set()
        for doc_id, doc in corpus_documents(nltk_dir / f"{name}.zip", name, doc_words):
            key = normalise(doc)
            lines = long_lines(doc)
            if key in seen or (lines and sum(line in seen_lines for line in lines) >= OVERLAP * len(lines)):
                row["duplicates_dropped"] += 1  # the same document, or mostly lines of earlier corpora
                continue
            seen.add(key)
            corpus_lines.update(lines)
            (out / f"{doc_id}.txt").write_text(doc + "\n", encoding="utf-8")
            row["documents"] += 1
            row["words"] += len(doc.split())
            texts.append(doc)
        seen_lines |= corpus_lines  # the overlap test compares with earlier corpora only
        if tokens:
            row["tokens"] = count_tokens(texts, n_workers)
        stats[name] = row
        print(format_row(name, row), flush=True)
    return stats


def format_row(name: str, row: dict) -> str:
    """One line of the table: corpus, documents, words, duplicates dropped (and tokens when counted)."""
    line = f"{name:22s} {row['documents']:9,d} {row['words']:11,d} {row['duplicates_dropped']:10,d}"
    return line + (f" {row['tokens']:11,d}" if "tokens" in row else "")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nltk", type=Path, default=None,
                        help="folder of NLTK-data zips (default: $ULMFIT_SHARED_DATA/nltk or ../shared/data/nltk)")
    parser.add_argument("--out", type=Path, help="output folder (one .txt per document + corpus_stats.json)")
    parser.add_argument("--corpora", default=",".join(CORPORA),
                        help="comma-separated corpora, release1 = the first model's five (default: all of --list)")
    parser.add_argument("--doc-words", type=int, default=2000, help="target words per document (default 2000)")
    parser.add_argument("--count-tokens", action="store_true", help="also count tokens with ulmfit's Tokenizer")
    parser.add_argument("--workers", type=int, default=1, help="tokenizer processes for --count-tokens (default 1)")
    parser.add_argument("--list", action="store_true", help="print the known corpora and exit")
    args = parser.parse_args(argv)
    if args.list:
        for name, (_, description) in CORPORA.items():
            print(f"{name:22s} {description}")
        for name, why in EXCLUDED.items():
            print(f"{name:22s} refused: {why}")
        return
    if args.out is None:
        parser.error("--out is required")
    if args.doc_words < 1:
        parser.error("--doc-words must be positive")
    names = parse_corpora(args.corpora)
    nltk_dir = args.nltk if args.nltk is not None else default_nltk_dir()
    for name in names:
        if not (zip_path := nltk_dir / f"{name}.zip").is_file():
            raise SystemExit(f"error: {zip_path} not found (expected the NLTK zips in --nltk {nltk_dir})")
    header = f"{'corpus':22s} {'documents':>9s} {'words':>11s} {'duplicates':>10s}"
    print(header + (f" {'tokens':>11s}" if args.count_tokens else ""), flush=True)
    stats = build(names, nltk_dir, args.out, args.doc_words, args.count_tokens, args.workers)
    total = {key: sum(row[key] for row in stats.values()) for key in next(iter(stats.values()))}
    print(format_row("total", total) + f" -> {args.out}")
    summary = {"corpora": stats, "total": total, "doc_words": args.doc_words, "nltk": str(nltk_dir)}
    (args.out / "corpus_stats.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    stale = sum(1 for p in args.out.glob("*.txt")) - total["documents"]
    if stale > 0:
        print(f"warning: {args.out} holds {stale} other .txt files from an earlier run", file=sys.stderr)


if __name__ == "__main__":
    main()

"""Word tokenizer: fastai's default rules + spaCy's blank-language tokenizer, with fastai-identical output.

The output of :class:`Tokenizer` equals fastai 2.8.12's dataset path (``tokenize_texts`` / ``tokenize1``:
pre-rules, ``spacy.blank(lang)`` with the special tokens as special cases, then ``replace_space`` on each
token). It is faster because spaCy is only asked about each distinct whitespace-delimited chunk once:
spaCy tokenizes every chunk on its own (see ``spacy/tokenizer.pyx``, ``_tokenize_affixes``), so a document's
tokens are the concatenation of its chunks' tokens, which we memoize (post-rules included) in a dict.
One spaCy step is not chunk-local: after splitting, a phrase matcher looks for special-case patterns
(emoticons, abbreviations) over the whole document, and a match that straddles two chunks can shadow a
match inside a chunk. :class:`_MatcherInfo` derives, from the tokenizer's own special cases, which chunk
ends can take part in such a straddling match; a document where one could occur is tokenized whole by
spaCy instead (rare in real text). The parity tests check all this against fastai itself and against
whole-document spaCy on fuzzed inputs.

Every Python ``str`` is accepted: code points UTF-8 cannot encode (lone surrogates such as ``"\\ud800"``,
which ``surrogateescape`` decoding or broken JSON produce) are replaced by U+FFFD before the rules run
(:func:`replace_unencodable`), so one bad text never aborts a batch and tokenizes the same alone or in one.
"""

from __future__ import annotations

import importlib.util
import multiprocessing as mp
import os
import re
import sys
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from itertools import chain, compress, filterfalse, islice
from typing import Any

from ulmfit.text.rules import (
    DEFAULT_POST_RULES,
    DEFAULT_PRE_RULES,
    SPECIAL_TOKENS,
    Rule,
    apply_rules,
    fix_html,
    fix_html_strict,
    get_rule,
    lowercase,
    lowercase_eos,
    replace_space,
    rule_name,
)

__all__ = ["Tokenizer", "check_texts", "default_n_workers", "replace_unencodable"]

SPEC_TYPE = "spacy"
SPEC_FORMAT_VERSION = 1

# Whitespace other than a plain space (newline, tab, NBSP, ...): such texts take the general splitting path.
_RE_OTHER_WS = re.compile(r"[^\S ]")
# The spans spaCy tokenizes one by one: leading whitespace, each non-whitespace run, and each whitespace
# run after a token minus its first character when that is a plain space (spaCy's "trailing space").
# re's \s is exactly str.isspace, which spaCy uses.
_RE_SPANS = re.compile(r"^\s+|\S+|(?<=\S)[^\S ]\s*|(?<=\S )\s+")
# Bound on the chunk memo so memory stays flat on huge corpora with an open vocabulary.
_MEMO_MAX = 200_000
# The code points a str may hold that UTF-8 cannot encode: the surrogates, which only exist in pairs in UTF-16.
_RE_UNENCODABLE = re.compile("[\ud800-\udfff]")


def replace_unencodable(text: str) -> str:
    """``text`` with each code point UTF-8 cannot encode (a lone surrogate, U+D800..U+DFFF) replaced by U+FFFD.

    spaCy, sentencepiece and the ``replace_rep`` rule encode their input and would raise
    ``UnicodeEncodeError`` (without saying which text) on such a character. Text without one is returned
    unchanged, as the same object, after an ``isascii`` check or one ``encode`` (about 1 us per kB).
    """
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return _RE_UNENCODABLE.sub("\ufffd", text)
    return text


def default_n_workers() -> int:
    """Number of CPUs this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS, Windows
        return max(1, os.cpu_count() or 1)


ONE_TEXT = ", or call the tokenizer on one text: tok(text)"  # check_texts' advice in a tokenizer


def check_texts(texts: Any, name: str = "texts", one: str = "") -> Sequence[str]:
    """Raise a clear error unless ``texts`` is a list/tuple (or other sequence) of ``str``. ``one``: how the
    caller takes a single text instead, added to the advice (the tokenizer's ``tok(text)``)."""
    if isinstance(texts, (str, bytes)):
        raise TypeError(f"{name} must be a sequence of strings, got a single {type(texts).__name__}; "
                        f"wrap it in a list{one}")
    if not isinstance(texts, Sequence):
        texts = list(texts)
    for i, t in enumerate(texts):
        if not isinstance(t, str):
            raise TypeError(f"{name}[{i}] must be a str, got {type(t).__name__} ({t!r:.60}); "
                            f"accepted: str (convert or drop missing values first)")
    return texts


def spacy_languages() -> list[str]:
    """The language codes spaCy has built in (the packages under ``spacy.lang``), found without importing spaCy;
    empty when spaCy is not installed."""
    spec = importlib.util.find_spec("spacy")
    found = set()
    for loc in (spec.submodule_search_locations or []) if spec is not None else []:
        lang_dir = os.path.join(loc, "lang")
        if os.path.isdir(lang_dir):
            found.update(name for name in os.listdir(lang_dir)
                         if os.path.isfile(os.path.join(lang_dir, name, "__init__.py")))
    return sorted(found)


def _not_a_language(lang: str, why: str = "") -> ValueError:
    codes = spacy_languages()
    accepted = f"accepted: {', '.join(codes)} ('xx': multi-language)" if codes else "e.g. 'en', 'de', 'xx'"
    return ValueError(f"lang={lang!r} is not a spaCy language code; {accepted}{why}")


def _check_lang(lang: str) -> None:
    """Validate a spaCy language code without importing spaCy (which pulls in torch via thinc: ~1.5 s)."""
    if not isinstance(lang, str) or not lang or not lang.replace("_", "").isalnum():
        raise ValueError(f"lang must be a spaCy language code such as 'en', got {lang!r}")
    if lang not in spacy_languages():
        try:
            import spacy  # noqa: F401
        except ImportError:  # no spaCy here (a GPU machine given token ids): saved models still load, and
            return  # tokenizing says what is missing
        _load_spacy(lang)  # not a built-in language: let spaCy decide (plugins) and explain the error


def _load_spacy(lang: str):
    try:
        import spacy
    except ImportError as e:  # pragma: no cover - spacy is a declared dependency
        raise ImportError("ulmfit.text.Tokenizer needs spaCy: pip install spacy") from e
    if not isinstance(lang, str) or not lang:
        raise ValueError(f"lang must be a spaCy language code such as 'en', got {lang!r}")
    try:
        return spacy.blank(lang)
    except ImportError as e:
        if importlib.util.find_spec(f"spacy.lang.{lang}") is not None:
            raise ImportError(f"spaCy's lang={lang!r} tokenizer needs an extra package: {e}") from None
        raise _not_a_language(lang) from None
    except (ValueError, KeyError) as e:
        raise _not_a_language(lang, f" (spaCy says: {e})") from None


class _MatcherInfo:
    """What spaCy's special-case phrase matcher could match across a chunk boundary.

    pairs: (token, next token) pairs occurring inside a multi-token matcher pattern;
    tails / heads: the first / second members of those pairs;
    outputs: first token -> token sequences that matcher rules produce when applying them changes the
    tokens (a chunk holding none of these sequences was not retokenized by the matcher, so its tokens
    are the ones the matcher saw).
    """

    def __init__(self, tokenizer):
        from spacy.tokenizer import Tokenizer as SpacyTokenizer

        bare = SpacyTokenizer(
            tokenizer.vocab, rules={}, prefix_search=tokenizer.prefix_search,
            suffix_search=tokenizer.suffix_search, infix_finditer=tokenizer.infix_finditer,
            token_match=tokenizer.token_match, url_match=tokenizer.url_match,
        )
        pairs: set[tuple[str, str]] = set()
        outputs: dict[str, list[tuple[str, ...]]] = {}
        for string, substrings in tokenizer.rules.items():
            # The same test spaCy's add_special_case uses to decide what goes into the matcher.
            if tokenizer.faster_heuristics and not (
                tokenizer.find_prefix(string) or tokenizer.find_infix(string)
                or tokenizer.find_suffix(string) or " " in string
            ):
                continue
            pattern = [t.text for t in bare(string)]
            pairs.update(zip(pattern, pattern[1:]))
            orths = [sub.get("ORTH", sub.get(65)) for sub in substrings]  # 65 == spacy.attrs.ORTH
            if orths != pattern and all(isinstance(o, str) for o in orths):
                # Only these rules change tokens when the matcher applies them.
                outputs.setdefault(orths[0], []).append(tuple(orths))
        self.pairs = frozenset(pairs)
        self.tails = frozenset(a for a, _ in pairs)
        self.heads = frozenset(b for _, b in pairs)
        self.outputs = outputs

    def span_risk(self, span: str, toks: list[str]) -> tuple[bool, frozenset, frozenset] | None:
        """``(retokenized?, possible last tokens, possible first tokens)`` of a chunk, or None if it cannot
        take part in a straddling match."""
        if not toks:
            return None
        sens = self._retokenized(toks)
        if sens:  # the matcher may have changed the chunk's ends: fall back to a string test
            tails = frozenset(x for x in self.tails if span.endswith(x))
            heads = frozenset(y for y in self.heads if span.startswith(y))
        else:
            tails = frozenset({toks[-1]}) & self.tails
            heads = frozenset({toks[0]}) & self.heads
        if not tails and not heads:
            return None
        return sens, tails, heads

    def _retokenized(self, toks: list[str]) -> bool:
        outputs = self.outputs
        for i, t in enumerate(toks):
            for seq in outputs.get(t, ()):
                if tuple(toks[i:i + len(seq)]) == seq:
                    return True
        return False

    def straddles(self, a: tuple[bool, frozenset, frozenset], b: tuple[bool, frozenset, frozenset]) -> bool:
        """Could a match straddling chunks a|b shadow a retokenization inside a or b?"""
        if not (a[0] or b[0]):
            return False
        return any((x, y) in self.pairs for x in a[1] for y in b[2])


class Tokenizer:
    """fastai-compatible word tokenizer: pre-rules, spaCy's blank tokenizer, post-rules.

    Args:
        lang: spaCy language code (``spacy.blank(lang)``).
        rules: pre-rules ``str -> str`` applied in order to each raw text (default: fastai's 8 rules).
        post_rules: rules ``str -> str`` applied to each token (default: ``replace_space``).
        special_tokens: strings spaCy must never split (default: the 9 fastai special tokens).
        fix_html_quirks: keep fastai's ``fix_html`` (``&amp;`` -> ``& &``); False swaps in ``fix_html_strict``.
        add_eos: append ``xxeos`` to every document (swaps ``lowercase`` for ``lowercase_eos``).

    ``tok(text) -> list[str]``; ``tok.tokenize(texts, n_workers=None) -> list[list[str]]``.
    Any ``str`` is accepted: lone surrogates (which UTF-8 cannot encode) become U+FFFD before the pre-rules,
    in this process and in worker processes alike, so the output is the same one at a time and in a batch.
    """

    # Documents tokenized in this process before worker processes are forked (warms the chunk memo).
    _prewarm_docs = 64

    def __init__(
        self,
        lang: str = "en",
        rules: Sequence[Rule] | None = None,
        post_rules: Sequence[Rule] | None = None,
        special_tokens: Sequence[str] | None = None,
        fix_html_quirks: bool = True,
        add_eos: bool = False,
    ):
        for kind, given in (("rules", rules), ("post_rules", post_rules), ("special_tokens", special_tokens)):
            if isinstance(given, str) or callable(given):
                raise TypeError(f"{kind} must be a list, got a single {type(given).__name__} ({given!r:.60}); wrap "
                                "it in a list")
        rules = list(DEFAULT_PRE_RULES if rules is None else rules)
        post_rules = list(DEFAULT_POST_RULES if post_rules is None else post_rules)
        for kind, lst in (("rules", rules), ("post_rules", post_rules)):
            for i, r in enumerate(lst):
                if not callable(r):
                    raise TypeError(f"{kind}[{i}] must be a callable str -> str, got {r!r}")
        if not fix_html_quirks:
            rules = [fix_html_strict if r is fix_html else r for r in rules]
        if add_eos:
            rules = [lowercase_eos if r is lowercase else r for r in rules]
        self.lang = lang
        self.rules: list[Rule] = rules
        self.post_rules: list[Rule] = post_rules
        self.special_tokens: list[str] = list(SPECIAL_TOKENS if special_tokens is None else special_tokens)
        for i, s in enumerate(self.special_tokens):
            if not isinstance(s, str) or not s or any(c.isspace() for c in s):
                raise ValueError(f"special_tokens[{i}] must be a non-empty str without whitespace, got {s!r}")
        self._nlp = None
        self._matcher: _MatcherInfo | None = None
        self._re_specials: re.Pattern | None = None
        self._memo: dict[str, list[str]] = {}
        self._risk: dict[str, tuple[bool, frozenset, frozenset]] = {}
        self._sens: set[str] = set()  # spans the matcher retokenized (see _MatcherInfo)
        _check_lang(lang)  # fail early on a bad language code

    # ---------------------------------------------------------------- spaCy and the chunk memo
    @property
    def nlp(self):
        """The spaCy ``Language`` (blank, special cases added), built on first use."""
        if self._nlp is None:
            nlp = _load_spacy(self.lang)  # first: a missing spaCy is one clear ImportError
            from spacy.symbols import ORTH
            from spacy.tokenizer import Tokenizer as SpacyTokenizer

            # Every new word becomes a spaCy lexeme with ~20 computed attributes (shape, like_num, ...) that
            # tokenization never reads; skipping them saves ~15% on a cold corpus. Token texts are unchanged.
            nlp.vocab.lex_attr_getters = {}
            if isinstance(nlp.tokenizer, SpacyTokenizer):
                for s in self.special_tokens:
                    nlp.tokenizer.add_special_case(s, [{ORTH: s}])
                self._matcher = _MatcherInfo(nlp.tokenizer)
            else:
                # Languages with their own segmenter (zh, ja, ko, th, vi, ...) have no special cases and no
                # chunk-local behaviour: documents go to spaCy whole, special tokens are cut out beforehand.
                alternatives = "|".join(map(re.escape, self.special_tokens)) or "(?!)"  # (?!) never matches
                self._re_specials = re.compile("(?<!\\S)(" + alternatives + ")(?!\\S)")
            self._nlp = nlp
        return self._nlp

    def _fill_memo(self, spans: list[str]) -> None:
        """Tokenize the spans missing from the memo with as few spaCy calls as possible.

        Non-whitespace spans are joined by newlines and tokenized in one call: spaCy tokenizes each chunk
        on its own, and no matcher pattern holds a newline, so nothing straddles the joins.
        """
        from spacy.attrs import IDX, LENGTH

        memo, risk, sens = self._memo, self._risk, self._sens
        if len(memo) >= _MEMO_MAX:
            memo.clear()
            risk.clear()
            sens.clear()
        tokenizer = self.nlp.tokenizer
        groups: list[tuple[str, list[str]]] = []
        words: list[str] = []
        for span in dict.fromkeys(filterfalse(memo.__contains__, spans)):
            if span[0].isspace():
                groups.append((span, [t.text for t in tokenizer(span)]))
            else:
                words.append(span)
        if words:
            joined = "\n".join(words)
            it = iter(words)
            cur: list[str] = []
            # Token texts are slices of the input; reading offsets skips building a Token object per token.
            offsets = tokenizer(joined).to_array([IDX, LENGTH])
            for idx, length in zip(offsets[:, 0].tolist(), offsets[:, 1].tolist()):
                if length == 1 and joined[idx] == "\n":
                    groups.append((next(it), cur))
                    cur = []
                else:
                    cur.append(joined[idx:idx + length])
            groups.append((next(it), cur))
        matcher, post = self._matcher, self.post_rules
        # replace_space only changes tokens that hold a space, i.e. only tokens of whitespace spans.
        skip_post_for_words = len(post) == 1 and post[0] is replace_space
        for span, toks in groups:
            r = matcher.span_risk(span, toks)
            if r is not None:
                risk[span] = r
                if r[0]:
                    sens.add(span)
            if not (skip_post_for_words and not span[0].isspace()):
                for rule in post:
                    toks = [rule(t) for t in toks]
            memo[span] = toks

    def _split(self, text: str) -> list[str]:
        """The spans spaCy tokenizes independently, in order (mirrors spaCy's whitespace loop)."""
        if _RE_OTHER_WS.search(text) is None and "  " not in text:
            # Common case: words separated by single spaces; spaCy skips each single space.
            parts = text.split(" ")
            if parts[0] and parts[-1]:
                return parts
        return _RE_SPANS.findall(text)

    def _spacy_tokens(self, text: str) -> list[str]:
        """spaCy + post-rules on an already pre-processed text."""
        if self._matcher is None:
            _ = self.nlp  # builds spaCy and, for rule-based tokenizers, the matcher info
            if self._matcher is None:
                return self._spans_direct(text)
        spans = self._split(text)
        try:
            toks = list(chain.from_iterable(map(self._memo.__getitem__, spans)))
        except KeyError:
            self._fill_memo(spans)
            try:
                toks = list(chain.from_iterable(map(self._memo.__getitem__, spans)))
            except KeyError:  # more new spans than the memo may hold
                return self._spans_direct(text)
        sens = self._sens
        if sens and not sens.isdisjoint(spans) and self._straddles(spans):
            return self._spans_direct(text)
        return toks

    def _straddles(self, spans: list[str]) -> bool:
        """Does a chunk boundary next to a matcher-retokenized chunk admit a straddling match?"""
        risk, matcher, n = self._risk, self._matcher, len(spans)
        for i in compress(range(n), map(self._sens.__contains__, spans)):
            here = risk[spans[i]]
            if i > 0 and spans[i - 1] in risk and matcher.straddles(risk[spans[i - 1]], here):
                return True
            if i + 1 < n and spans[i + 1] in risk and matcher.straddles(here, risk[spans[i + 1]]):
                return True
        return False

    def _spans_direct(self, span: str) -> list[str]:
        """Whole-text spaCy (+ post-rules), bypassing the memo."""
        tokenizer = self.nlp.tokenizer
        if self._matcher is not None:
            toks = [t.text for t in tokenizer(span)]
        else:
            toks = []
            for i, piece in enumerate(self._re_specials.split(span)):
                if i % 2:
                    toks.append(piece)
                elif piece.strip(" "):
                    toks.extend(t.text for t in tokenizer(piece.strip(" ")))
        for rule in self.post_rules:
            toks = [rule(t) for t in toks]
        return toks

    def preprocess(self, text: str) -> str:
        """Apply the pre-rules to one raw text (after :func:`replace_unencodable`)."""
        return apply_rules(replace_unencodable(text), self.rules)

    # ---------------------------------------------------------------- public API
    def __call__(self, text: str) -> list[str]:
        """Tokenize one text: ``str -> list[str]`` (starts with ``xxbos`` with the default rules)."""
        if not isinstance(text, str):
            raise TypeError(f"text must be a str, got {type(text).__name__} ({text!r:.60})")
        return self._spacy_tokens(self.preprocess(text))

    def _tokenize_local(self, texts: Iterable[str]) -> list[list[str]]:
        rules, spacy_tokens = self.rules, self._spacy_tokens
        out = []
        for text in texts:
            text = replace_unencodable(text)
            for rule in rules:
                text = rule(text)
            out.append(spacy_tokens(text))
        return out

    def tokenize(self, texts: Sequence[str], n_workers: int | None = None,
                 chunk_size: int | None = None) -> list[list[str]]:
        """Tokenize many texts: ``N texts -> N token lists`` in input order.

        n_workers: processes to use (default: all CPUs; 1 = in this process).
        chunk_size: documents per task sent to a worker (default: balanced over the workers).
        For an on-disk cache of the result wrap the tokenizer: ``CachedTokenizer(tok).tokenize(texts)``
        (:mod:`ulmfit.text.cache`).
        """
        texts = check_texts(texts, one=ONE_TEXT)
        n_workers = self._check_workers(n_workers)
        if n_workers == 1 or len(texts) < 2 * n_workers:
            return self._tokenize_local(texts)
        if chunk_size is None:
            # Several tasks per worker balance uneven documents; not so many that overhead dominates.
            chunk_size = max(1, min(2000, -(-len(texts) // (4 * n_workers))))
        return list(self.tokenize_iter(texts, n_workers=n_workers, chunk_size=chunk_size, _checked=True))

    def tokenize_iter(self, texts: Iterable[str], n_workers: int | None = None, chunk_size: int = 1000,
                      _checked: bool = False) -> Iterator[list[str]]:
        """Stream token lists for an iterable of texts, in order, with bounded memory.

        At most ``2 * n_workers`` chunks of ``chunk_size`` documents are in flight at once, so memory does
        not grow with the corpus. ``texts`` may be a generator (e.g. lines of a huge file).
        """
        n_workers = self._check_workers(n_workers)
        if mp.current_process().daemon:  # e.g. inside a DataLoader worker: daemons cannot have children
            n_workers = 1
        if not isinstance(chunk_size, int) or chunk_size < 1:
            raise ValueError(f"chunk_size must be a positive int, got {chunk_size!r}")
        if isinstance(texts, (str, bytes)):
            check_texts(texts, one=ONE_TEXT)
        chunks = self._checked_chunks(iter(texts), chunk_size, _checked)
        if n_workers == 1:
            for chunk in chunks:
                yield from self._tokenize_local(chunk)
            return
        # This process is one of the n_workers. It tokenizes a first slice of documents before forking, so
        # the children inherit a warm chunk memo, then every n_workers-th chunk while n_workers - 1 children
        # do the others; whenever the next result in order is not ready, it works ahead on its own chunks.
        first = next(chunks, None)
        if first is None:
            return
        head, rest = first[:self._prewarm_docs], first[self._prewarm_docs:]
        yield from self._tokenize_local(head)
        if rest:
            chunks = chain([rest], chunks)
        ctx = mp.get_context("fork" if sys.platform.startswith("linux") else "spawn")
        with ctx.Pool(n_workers - 1, initializer=_worker_init, initargs=(self,)) as pool:
            pending: deque = deque()
            for k, chunk in enumerate(chunks):
                if k % n_workers == n_workers - 1:
                    pending.append(_LocalChunk(chunk))
                else:
                    pending.append(pool.apply_async(_worker_tokenize, (chunk,)))
                if len(pending) >= 2 * n_workers:
                    yield from self._next_result(pending)
            while pending:
                yield from self._next_result(pending)

    def _next_result(self, pending: deque) -> list[list[str]]:
        """Pop the oldest pending chunk's result, working on our own chunks while a child's is not ready."""
        front = pending[0]
        if not isinstance(front, _LocalChunk):
            while not front.ready():
                todo = next((p for p in pending if isinstance(p, _LocalChunk) and p.result is None), None)
                if todo is None:
                    break
                todo.run(self)
        pending.popleft()
        if isinstance(front, _LocalChunk):
            return front.run(self)
        return front.get()

    @staticmethod
    def _checked_chunks(it: Iterator[str], chunk_size: int, checked: bool) -> Iterator[list[str]]:
        start = 0
        while True:
            chunk = list(islice(it, chunk_size))
            if not chunk:
                return
            if not checked:
                for j, t in enumerate(chunk):
                    if not isinstance(t, str):
                        raise TypeError(f"texts[{start + j}] must be a str, got {type(t).__name__} "
                                        f"({t!r:.60}); accepted: str (convert or drop missing values first)")
            start += len(chunk)
            yield chunk

    @staticmethod
    def _check_workers(n_workers: int | None) -> int:
        if n_workers is None:
            return default_n_workers()
        if isinstance(n_workers, bool) or not isinstance(n_workers, int) or n_workers < 0:
            raise ValueError(f"n_workers must be None (all CPUs) or an int >= 1, got {n_workers!r}")
        return max(1, n_workers)  # 0 means "in process", as in fastai

    # ---------------------------------------------------------------- (de)serialisation
    def to_dict(self, folder: str | os.PathLike | None = None) -> dict:
        """JSON-able spec (``tokenizer.json``). Raises ``ValueError`` if a rule is not a named rule.

        ``folder`` is accepted for symmetry with :meth:`SentencePieceTokenizer.to_dict` (nothing to copy here).
        """
        from importlib.metadata import version

        from ulmfit.version import __version__

        return {
            "type": SPEC_TYPE,
            "format_version": SPEC_FORMAT_VERSION,
            "lang": self.lang,
            "rules": [rule_name(r) for r in self.rules],
            "post_rules": [rule_name(r) for r in self.post_rules],
            "special_tokens": list(self.special_tokens),
            "ulmfit_version": __version__,
            "spacy_version": version("spacy"),
        }

    @classmethod
    def from_dict(cls, d: dict) -> Tokenizer:
        """Rebuild a tokenizer from :meth:`to_dict` output."""
        if not isinstance(d, dict):
            raise TypeError(f"tokenizer spec must be a dict, got {type(d).__name__}")
        if d.get("type", SPEC_TYPE) != SPEC_TYPE:
            raise ValueError(f"tokenizer spec type is {d.get('type')!r}, expected {SPEC_TYPE!r} "
                             f"(use SentencePieceTokenizer.from_dict for 'sentencepiece')")
        for key in ("lang", "rules", "post_rules"):
            if key not in d:
                raise ValueError(f"tokenizer spec lacks the key {key!r}; got keys {sorted(d)}")
        if not isinstance(d["rules"], list) or not isinstance(d["post_rules"], list):
            raise ValueError("tokenizer spec 'rules' and 'post_rules' must be lists of rule names")
        return cls(
            lang=d["lang"],
            rules=[get_rule(n) for n in d["rules"]],
            post_rules=[get_rule(n) for n in d["post_rules"]],
            special_tokens=d.get("special_tokens"),
        )

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_nlp"] = None  # rebuilt in the worker
        state["_matcher"] = None
        state["_memo"] = {}
        state["_risk"] = {}
        state["_sens"] = set()
        return state

    def __repr__(self) -> str:
        names = [getattr(r, "__name__", repr(r)) for r in self.rules]
        return f"Tokenizer(lang={self.lang!r}, rules={names})"


# ---------------------------------------------------------------- worker processes
class _LocalChunk:
    """A chunk the parent process tokenizes itself (lazily, when it has nothing better to do)."""

    __slots__ = ("chunk", "result")

    def __init__(self, chunk: list[str]):
        self.chunk: list[str] | None = chunk
        self.result: list[list[str]] | None = None

    def run(self, tok: Tokenizer) -> list[list[str]]:
        if self.result is None:
            self.result = tok._tokenize_local(self.chunk)
            self.chunk = None
        return self.result


_WORKER_TOK: Tokenizer | None = None


def _worker_init(tok: Tokenizer) -> None:
    global _WORKER_TOK
    _WORKER_TOK = tok


def _worker_tokenize(chunk: list[str]) -> list[list[str]]:
    return _WORKER_TOK._tokenize_local(chunk)


"""Text rules: special tokens, pre-rules (raw string -> string) and post-rules (token -> token).

The default pre-rules reproduce fastai 2.8.12's ``defaults.text_proc_rules`` exactly, in the same order,
quirks included (checked token for token against fastai 2.8.12 by the parity tests). Every rule is a pure
``str -> str`` function with its regexes compiled once at import. Rules are looked up by name in
:data:`RULES` so that a tokenizer can be saved as JSON (``tokenizer.json``) and rebuilt.
"""

from __future__ import annotations

import html
import operator
import re
from collections.abc import Callable
from itertools import compress

import numpy as np

__all__ = [
    "UNK", "PAD", "BOS", "EOS", "FLD", "TK_REP", "TK_WREP", "TK_UP", "TK_MAJ", "SPECIAL_TOKENS",
    "fix_html", "fix_html_strict", "replace_rep", "replace_wrep", "spec_add_spaces", "rm_useless_spaces",
    "replace_all_caps", "replace_maj", "lowercase", "lowercase_eos", "replace_space", "apply_rules",
    "DEFAULT_PRE_RULES", "DEFAULT_POST_RULES", "RULES", "rule_name", "get_rule",
]

Rule = Callable[[str], str]

# Special tokens, in fastai v2's vocab order (ids 0..8).
UNK, PAD, BOS, EOS, FLD, TK_REP, TK_WREP, TK_UP, TK_MAJ = (
    "xxunk", "xxpad", "xxbos", "xxeos", "xxfld", "xxrep", "xxwrep", "xxup", "xxmaj",
)
SPECIAL_TOKENS: tuple[str, ...] = (UNK, PAD, BOS, EOS, FLD, TK_REP, TK_WREP, TK_UP, TK_MAJ)

# ---------------------------------------------------------------------------------------------------------
# fix_html

# fastai's substitutions, in its order. The entity bodies lack their leading "&" (quirk 1: "&amp;" -> "&&").
_HTML_SUBS_FASTAI: tuple[tuple[str, str], ...] = (
    ("#39;", "'"), ("amp;", "&"), ("#146;", "'"), ("nbsp;", " "), ("#36;", "$"), ("\\n", "\n"),
    ("quot;", "'"), ("<br />", "\n"), ('\\"', '"'), ("<unk>", UNK), (" @.@ ", "."), (" @-@ ", "-"),
    ("...", " …"),
)
# Corrected variant: whole entities are replaced and the other common <br> spellings are handled too.
_HTML_SUBS_STRICT: tuple[tuple[str, str], ...] = (
    ("&#39;", "'"), ("&amp;", "&"), ("&#146;", "'"), ("&nbsp;", " "), ("&#36;", "$"), ("\\n", "\n"),
    ("&quot;", '"'), ("<br />", "\n"), ("<br/>", "\n"), ("<br>", "\n"), ('\\"', '"'), ("<unk>", UNK),
    (" @.@ ", "."), (" @-@ ", "-"), ("...", " …"),
)
# A text with none of these characters is left unchanged by every substitution above (cheap skip).
_HTML_TRIGGER = re.compile(r"[;\\<@&]|\.\.\.")


def fix_html(t: str) -> str:
    """fastai's ``fix_html``: fixed substitutions for messy HTML/wiki text, then ``html.unescape``.

    Keeps fastai's quirk: ``&amp;`` -> ``&&``, ``&quot;`` -> ``&'`` (use :func:`fix_html_strict` to avoid it).
    """
    return _apply_html_subs(t, _HTML_SUBS_FASTAI)


def fix_html_strict(t: str) -> str:
    """Like :func:`fix_html` but replaces whole entities (``&amp;`` -> ``&``, ``&quot;`` -> ``"``) and
    also turns ``<br>`` and ``<br/>`` into newlines. Not fastai-compatible; opt in explicitly."""
    return _apply_html_subs(t, _HTML_SUBS_STRICT)


def _apply_html_subs(t: str, subs) -> str:
    """The fixed substitutions ``subs`` then ``html.unescape``; texts without any trigger are returned as is."""
    if _HTML_TRIGGER.search(t) is None:
        return t
    for old, new in subs:
        if old in t:
            t = t.replace(old, new)
    return html.unescape(t)


# ---------------------------------------------------------------------------------------------------------
# repetitions

# A non-space character followed by at least two more copies of itself.
_RE_CHAR_REP = re.compile(r"(?P<c>\S)(?P<more>(?P=c){2,})")


def _char_rep_sub(m: re.Match) -> str:
    return f" {TK_REP} {len(m.group('more')) + 1} {m.group('c')} "


def _may_have_char_rep(t: str) -> bool:
    """Cheap necessary condition for :data:`_RE_CHAR_REP`: some non-space character occurs 3 times in a row.

    Vectorised over code points, ~20x faster than letting the regex scan texts that have no repeat.
    """
    if len(t) < 3:
        return False
    a = np.frombuffer(t.encode("utf-32-le"), dtype=np.uint32)
    same = a[1:] == a[:-1]
    return bool((same[1:] & same[:-1] & (a[1:-1] != 32)).any())


def replace_rep(t: str) -> str:
    """Character repeated 3+ times -> `` xxrep N c `` (``sooooo`` -> ``s xxrep 5 o``)."""
    if not _may_have_char_rep(t):
        return t
    return _RE_CHAR_REP.sub(_char_rep_sub, t)


# A word at the start or after whitespace, repeated 3+ times separated by whitespace, then the character
# that ends the run (whitespace, a non-word character, or nothing at the end of the string).
_RE_WORD_REP = re.compile(r"(?:\s|^)(?P<w>\w+)\s+(?P<mid>(?:(?P=w)\s+)+)(?P=w)(?P<end>\s|\W|$)")


def _word_rep_sub(m: re.Match) -> str:
    return f" {TK_WREP} {len(m.group('mid').split()) + 2} {m.group('w')} {m.group('end')}"


_RE_WORD = re.compile(r"\w+")


def _may_have_word_rep(t: str) -> bool:
    r"""Cheap necessary condition for :data:`_RE_WORD_REP`.

    A match needs whitespace-split pieces ``p[i] == p[i+1] == W`` (a ``\w+`` word) with ``p[i+2]`` starting
    with ``W``; ``str.split()`` and the regex's ``\s`` agree on what whitespace is.
    """
    p = t.split()
    for i in compress(range(len(p) - 2), map(operator.eq, p, p[1:])):
        w = p[i]
        if p[i + 2].startswith(w) and _RE_WORD.fullmatch(w):
            return True
    return False


def replace_wrep(t: str) -> str:
    """Word repeated 3+ times -> `` xxwrep N word `` (case-sensitive, whitespace-separated)."""
    if not _may_have_word_rep(t):
        return t
    return _RE_WORD_REP.sub(_word_rep_sub, t)


# ---------------------------------------------------------------------------------------------------------
# spacing

_RE_SPEC = re.compile(r"(?P<c>[/#\\])")
_RE_MULTI_SPACE = re.compile(r" {2,}")


def spec_add_spaces(t: str) -> str:
    """Put spaces around every ``/``, ``#`` and ``\\``."""
    return _RE_SPEC.sub(r" \g<c> ", t)


def rm_useless_spaces(t: str) -> str:
    """Collapse runs of 2+ space characters (only ``' '``; tabs and newlines stay) into one."""
    return _RE_MULTI_SPACE.sub(" ", t)


# ---------------------------------------------------------------------------------------------------------
# case

_RE_ANY_UPPER = re.compile(r"[A-Z]")
# Whitespace-delimited chunk starting with capitals and holding no lowercase ASCII letter.
_RE_ALL_CAPS = re.compile(r"(?P<pre>\s|^)(?P<word>[A-Z]+[^a-z\s]*)(?=\s|$)")
# Whitespace-delimited chunk: one capital then no capitals.
_RE_MAJ = re.compile(r"(?P<pre>\s|^)(?P<word>[A-Z][^A-Z\s]*)(?=\s|$)")


def _caps_sub(m: re.Match) -> str:
    word = m.group("word")
    return m.group("pre") + (f"{TK_UP} " if len(word) > 1 else "") + word.lower()


def _maj_sub(m: re.Match) -> str:
    word = m.group("word")
    return m.group("pre") + (f"{TK_MAJ} " if len(word) > 1 else "") + word.lower()


def replace_all_caps(t: str) -> str:
    """ALL-CAPS chunk -> ``xxup`` + lowercase (single capitals are only lowercased)."""
    if _RE_ANY_UPPER.search(t) is None:
        return t
    return _RE_ALL_CAPS.sub(_caps_sub, t)


def replace_maj(t: str) -> str:
    """Capitalized chunk (ASCII capital, then no capitals) -> ``xxmaj`` + lowercase."""
    if _RE_ANY_UPPER.search(t) is None:
        return t
    return _RE_MAJ.sub(_maj_sub, t)


def lowercase(t: str, add_bos: bool = True, add_eos: bool = False) -> str:
    """Lowercase, strip, and put ``xxbos `` in front (and `` xxeos`` at the end if ``add_eos``)."""
    return (f"{BOS} " if add_bos else "") + t.lower().strip() + (f" {EOS}" if add_eos else "")


def lowercase_eos(t: str) -> str:
    """:func:`lowercase` with ``add_eos=True`` (a named rule so it can be saved in ``tokenizer.json``)."""
    return lowercase(t, add_bos=True, add_eos=True)


# ---------------------------------------------------------------------------------------------------------
# post-rules (applied to each token)

def replace_space(t: str) -> str:
    """Spaces inside a token -> ``▁`` (U+2581), so tokens can be joined and split on ``' '``."""
    return t.replace(" ", "\u2581")


DEFAULT_PRE_RULES: tuple[Rule, ...] = (
    fix_html, replace_rep, replace_wrep, spec_add_spaces, rm_useless_spaces, replace_all_caps, replace_maj,
    lowercase,
)
DEFAULT_POST_RULES: tuple[Rule, ...] = (replace_space,)

# Name -> rule, for saving and loading tokenizer specs.
RULES: dict[str, Rule] = {
    f.__name__: f
    for f in (
        fix_html, fix_html_strict, replace_rep, replace_wrep, spec_add_spaces, rm_useless_spaces,
        replace_all_caps, replace_maj, lowercase, lowercase_eos, replace_space,
    )
}


def rule_name(rule: Rule) -> str:
    """The registry name of ``rule``; raises ``ValueError`` for callables that are not in :data:`RULES`."""
    name = getattr(rule, "__name__", None)
    if name is None or RULES.get(name) is not rule:
        raise ValueError(
            f"rule {rule!r} is not a named rule of ulmfit.text.rules, so it cannot be saved to JSON; "
            f"accepted: {sorted(RULES)} (or keep the tokenizer in memory only)"
        )
    return name


def get_rule(name: str) -> Rule:
    """The rule registered under ``name``; raises ``ValueError`` listing the known names otherwise."""
    if not isinstance(name, str) or name not in RULES:
        raise ValueError(f"unknown rule name {name!r}; accepted: {sorted(RULES)}")
    return RULES[name]


def apply_rules(text: str, rules) -> str:
    """Run the pre-rules over one raw text, in order."""
    for rule in rules:
        text = rule(text)
    return text

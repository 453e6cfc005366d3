"""Each pre/post rule on the examples of ULMFIT_FACTS.md section a (fastai 2.8.12 behaviour)."""

import re

import pytest

from ulmfit.text import rules as R


def test_special_tokens_order():
    assert R.SPECIAL_TOKENS == ("xxunk", "xxpad", "xxbos", "xxeos", "xxfld", "xxrep", "xxwrep", "xxup", "xxmaj")


def test_default_rule_order():
    names = [r.__name__ for r in R.DEFAULT_PRE_RULES]
    assert names == ["fix_html", "replace_rep", "replace_wrep", "spec_add_spaces", "rm_useless_spaces",
                     "replace_all_caps", "replace_maj", "lowercase"]
    assert [r.__name__ for r in R.DEFAULT_POST_RULES] == ["replace_space"]


@pytest.mark.parametrize("raw, expected", [
    ("#39;", "'"), ("amp;", "&"), ("#146;", "'"), ("nbsp;", " "), ("#36;", "$"), ("a\\nb", "a\nb"),
    ("quot;", "'"), ("a<br />b", "a\nb"), ('\\"', '"'), ("<unk>", "xxunk"), ("1 @.@ 5", "1.5"),
    ("a @-@ b", "a-b"), ("wait...", "wait …"), ("&lt;3", "<3"),
    # quirk 1: the entity body is replaced without its "&"
    ("&amp;", "&&"), ("&quot;x&quot;", "&'x&'"), ("&#39;", "&'"),
    # <br> and <br/> are not handled
    ("a<br>b", "a<br>b"), ("a<br/>b", "a<br/>b"),
])
def test_fix_html(raw, expected):
    assert R.fix_html(raw) == expected


def test_fix_html_strict_corrects_the_quirks():
    assert R.fix_html_strict("Tom &amp; Jerry &quot;hi&quot; &#39;x&#39;") == "Tom & Jerry \"hi\" 'x'"
    assert R.fix_html_strict("a<br>b<br/>c<br />d") == "a\nb\nc\nd"
    assert R.fix_html_strict("plain text") == "plain text"


@pytest.mark.parametrize("raw, expected", [
    ("sooooo", "s xxrep 5 o "),
    ("!!!", " xxrep 3 ! "),
    ("1000000", "1 xxrep 6 0 "),
    ("www", " xxrep 3 w "),
    ("😀😀😀", " xxrep 3 😀 "),
    ("!!", "!!"),
    ("a   b", "a   b"),  # spaces are not repeated characters (\S)
    ("ab", "ab"),
])
def test_replace_rep(raw, expected):
    assert R.replace_rep(raw) == expected


@pytest.mark.parametrize("raw, expected", [
    ("very very very very bad", " xxwrep 4 very  bad"),
    ("really really", "really really"),
    ("The the the", "The the the"),  # case-sensitive
    ("go go go!", " xxwrep 3 go !"),
    ("go go go", " xxwrep 3 go "),
    ("xgo go go go", "xgo xxwrep 3 go "),
    ("a b c", "a b c"),
])
def test_replace_wrep(raw, expected):
    assert R.replace_wrep(raw) == expected


def test_replace_wrep_prefilter_agrees_with_the_regex():
    # The cheap pre-check must never skip a text the regex would change.
    samples = ["go go go", "go\tgo\ngo,", "x y y y", "a a a a a", "y y yes", "1 1 1", "é é é", "_ _ _",
               "go go", "go go g", "a a ab", "ab ab a", "hi  hi   hi.", "\u00a0go go go"]
    for s in samples:
        assert R.replace_wrep(s) == R._RE_WORD_REP.sub(R._word_rep_sub, s), s


def test_replace_rep_prefilter_agrees_with_the_regex():
    samples = ["aaa", "a a a", "   ", "\n\n\n", "xx", "abcabc", "ééé", "a\u00a0\u00a0\u00a0b", "!!!!"]
    for s in samples:
        assert R.replace_rep(s) == R._RE_CHAR_REP.sub(R._char_rep_sub, s), s


def test_spec_add_spaces_and_rm_useless_spaces():
    assert R.spec_add_spaces("8/10 #1 a\\b") == "8 / 10  # 1 a \\ b"
    assert R.rm_useless_spaces("a  b   c\t\t d\n\n") == "a b c\t\t d\n\n"


@pytest.mark.parametrize("raw, expected", [
    ("THE BEST", "xxup the xxup best"),
    ("IT.", "xxup it."),
    ("U.S.A.", "xxup u.s.a."),
    ("C++", "xxup c++"),
    ("A. B.", "xxup a. xxup b."),
    ("I am", "i am"),
    ("NASA's", "NASA's"),  # lowercase after the capitals: not all caps
    ("no caps", "no caps"),
])
def test_replace_all_caps(raw, expected):
    assert R.replace_all_caps(raw) == expected


@pytest.mark.parametrize("raw, expected", [
    ("Hello, John", "xxmaj hello, xxmaj john"),
    ("I'm Tom's", "xxmaj i'm xxmaj tom's"),
    ("I", "i"),
    ("McDonald iOS HeLLo", "McDonald iOS HeLLo"),
    ("(Very \"Best", "(Very \"Best"),
    ("Ça Привет", "Ça Привет"),
])
def test_replace_maj(raw, expected):
    assert R.replace_maj(raw) == expected


def test_lowercase():
    assert R.lowercase("  Hello World \n") == "xxbos hello world"
    assert R.lowercase("") == "xxbos "
    assert R.lowercase("A", add_eos=True) == "xxbos a xxeos"
    assert R.lowercase("A", add_bos=False) == "a"
    assert R.lowercase_eos("A") == "xxbos a xxeos"


def test_replace_space():
    assert R.replace_space("\n \n") == "\n\u2581\n"
    assert R.replace_space("word") == "word"


def test_full_pipeline_strings():
    def run(t):
        for r in R.DEFAULT_PRE_RULES:
            t = r(t)
        return t

    assert run("The The The The") .split() == ["xxbos", "xxwrep", "4", "xxmaj", "the"]
    assert run("I'm OK").split() == ["xxbos", "xxmaj", "i'm", "xxup", "ok"]


def test_registry_round_trip():
    for name, rule in R.RULES.items():
        assert R.rule_name(rule) == name
        assert R.get_rule(name) is rule
    with pytest.raises(ValueError, match="accepted"):
        R.rule_name(lambda t: t)
    with pytest.raises(ValueError, match="unknown rule name 'nope'"):
        R.get_rule("nope")


def test_rules_are_pure_str_functions():
    for rule in R.RULES.values():
        assert isinstance(rule("Some TEXT &amp; more!!!"), str)
    assert all(isinstance(p, re.Pattern) for p in (R._RE_CHAR_REP, R._RE_WORD_REP, R._RE_ALL_CAPS, R._RE_MAJ))

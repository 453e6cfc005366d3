"""scripts/prepare_pretraining_corpus.py: each reader strips its corpus' markup, dedup, refusals, stats.

The readers run on tiny zips written here in each corpus' real format; one test reads the real NLTK zips
(``../shared/data/nltk`` or ``$ULMFIT_SHARED_DATA/nltk``) and skips when they are absent.
"""

from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path

import pytest

from tests.scripts.conftest import script_fixture

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "prepare_pretraining_corpus.py"


ppc = script_fixture("prepare_pretraining_corpus", scope="module")


def make_zip(folder: Path, name: str, members: dict[str, str | bytes]) -> Path:
    """``folder/name.zip`` holding ``name/<member>`` for each member (text written as UTF-8)."""
    path = folder / f"{name}.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(f"{name}/", "")
        zf.writestr(f"{name}/README", "About this corpus.\n")
        for member, data in members.items():
            zf.writestr(f"{name}/{member}", data.encode("utf-8") if isinstance(data, str) else data)
    return path


def docs(ppc, tmp_path, name, members, doc_words=2000):
    return list(ppc.corpus_documents(make_zip(tmp_path, name, members), name, doc_words))


def test_brown_and_plain(ppc, tmp_path):
    got = docs(ppc, tmp_path, "brown", {"ca01": "\n\tThe/at jury/nn said/vbd ``/`` yes/uh ''/'' ./.\n",
                                        "cats.txt": "ca01 news\n"})
    assert got == [("brown-ca01-0000", 'The jury said " yes " .')]
    assert docs(ppc, tmp_path, "abc", {"rural.txt": "Hello there.\n\nSecond paragraph.\n"}) == [
        ("abc-rural.txt-0000", "Hello there.\n\nSecond paragraph.")]


def test_long_files_are_split_at_paragraphs(ppc, tmp_path):
    text = "\n\n".join(" ".join(["word"] * 30) for _ in range(10))
    got = docs(ppc, tmp_path, "webtext", {"wine.txt": text}, doc_words=100)
    assert [i for i, _ in got] == [f"webtext-wine.txt-{k:04d}" for k in range(3)]
    assert sum(len(d.split()) for _, d in got) == 300


def test_decode_falls_back_per_line_and_repairs_big5_punctuation(ppc):
    raw = "caf\u00e9 ok\n".encode() + b"460\xb0C\nAmerica\xa1\xa6s future\xa1Xnow\nsmart \x93quotes\x94"
    assert ppc.decode(raw).splitlines() == ["caf\u00e9 ok", "460\u00b0C", "America\u2019s future\u2014now",
                                            "smart \u201cquotes\u201d"]


def test_masc_strips_underscore_tags(ppc, tmp_path):
    text = "The_DT cat_NN sat_VBD ._. \n\n\n\n\"_'' Hi_UH ,_, john_doe@x.com_NNP HTTP/1.1_NN a_b_c\n"
    got = docs(ppc, tmp_path, "masc_tagged", {"categories.txt": "written/a.txt essay\n", "written/a.txt": text,
                                              "spoken/b.txt": "Um_UH ._."})
    assert dict(got) == {"masc_tagged-a.txt-0000": 'The cat sat .\n\n" Hi , john_doe@x.com HTTP/1.1 a_b_c',
                         "masc_tagged-b.txt-0000": "Um ."}


PRODUCT = """*****************************************************************************
* Annotated by: Minqing Hu and Bing Liu, 2004.
*****************************************************************************

[t]excellent picture quality / color
canon powershot g3[+3]##i recently purchased the canon powershot g3 .
##great job canon !
[t]
camera[+2][p]##overall i 'm happy with my toy .   size[+2]##it is small .
touchpad[-1][u] The touch buttons take getting used to.
"""


def test_product_reviews_one_document_per_review(ppc, tmp_path):
    got = docs(ppc, tmp_path, "product_reviews_1", {"Canon G3.txt": PRODUCT, "README.txt": "[t] not a review"})
    assert got == [
        ("product_reviews_1-Canon_G3.txt-0000",
         "excellent picture quality / color\ni recently purchased the canon powershot g3 .\ngreat job canon !"),
        ("product_reviews_1-Canon_G3.txt-0001",
         "overall i 'm happy with my toy .\nit is small .\nThe touch buttons take getting used to."),
    ]


COMPARATIVE = """*****************************************************************************
dvd player:     Apex AD2600 Progressive-scan DVD player
*****************************************************************************
this is by far the nicest one .
<cs-1>
its fast-forward works much more smoothly than those of other models .
</cs-1>
1_its 2_models 3_fast-forward (more)
<cs-3>
it is the best player .
</cs-3> (best)
it plays alternate video formats ( vcds ) very well .
( well , mostly . )
************
Article on Coke vs Pepsi
************
coke is sweeter than pepsi .
"""


def test_comparative_sentences_drop_tags_relations_and_banners(ppc, tmp_path):
    got = docs(ppc, tmp_path, "comparative_sentences", {"labeledSentences.txt": COMPARATIVE.encode("latin-1"),
                                                        "listOfkeywords.txt": "better\n"})
    assert [d for _, d in got] == [
        "this is by far the nicest one .\nits fast-forward works much more smoothly than those of other models .\n"
        "it is the best player .\nit plays alternate video formats ( vcds ) very well .\n( well , mostly . )",
        "coke is sweeter than pepsi .",
    ]
    assert [i for i, _ in got] == ["comparative_sentences-labeledSentences.txt-0000",
                                   "comparative_sentences-labeledSentences.txt-0001"]


NPS = """<!-- edited with XMLSpy -->
<Session>
\t<Posts>
\t\t<Post class="Statement" user="U7">now im left with this name<terminals>
\t\t\t\t<t pos="RB" word="now"/>
\t\t\t</terminals>
\t\t</Post>
\t\t<Post class="System" user="U76">PART<terminals><t pos="VB" word="PART"/></terminals></Post>
\t\t<Post class="Emotion" user="U7">:P &lt;3<terminals><t pos="UH" word=":P"/></terminals></Post>
\t</Posts>
</Session>
"""


def test_nps_chat_keeps_post_text_only(ppc, tmp_path):
    got = docs(ppc, tmp_path, "nps_chat", {"10-19-20s_706posts.xml": NPS, "postClassPOSTagset.xsd": "<x/>"})
    assert got == [("nps_chat-10-19-20s_706posts.xml-0000", "now im left with this name\n:P <3")]


def test_treebank_raw_text_after_start(ppc, tmp_path):
    members = {"raw/wsj_0001": ".START \n\nPierre Vinken, 61, will join the board.\n\nMr. Vinken is chairman. \n",
               "tagged/wsj_0001.pos": "Pierre/NNP", "combined/wsj_0001.mrg": "( (S (NP-SBJ"}
    got = docs(ppc, tmp_path, "treebank", members)
    assert got == [("treebank-wsj_0001-0000", "Pierre Vinken, 61, will join the board.\n\nMr. Vinken is chairman.")]


def test_conll2000_sentences_grouped(ppc, tmp_path):
    text = ("Confidence NN B-NP\nin IN B-PP\n-LRB- ( O\n1\\/2 CD B-NP\n-RRB- ) O\n. . O\n\n"
            "`` `` O\nYes UH O\n'' '' O\n\n" + "\n\n".join("Word NN B-NP\nagain RB O" for _ in range(4)) + "\n")
    got = docs(ppc, tmp_path, "conll2000", {"train.txt": text}, doc_words=6)
    assert [d for _, d in got] == ['Confidence in ( 1/2 ) .', '" Yes "\nWord again\nWord again',
                                   "Word again\nWord again"]


def test_switchboard_one_document_per_dialogue(ppc, tmp_path):
    text = ("\nA.1: Uh, do you have a pet? \nB.2: <Laughter> Yeah, a poodle. \n\n"
            "A.1: Hello <<pause> there. \nB.2: Hi. \n")
    got = docs(ppc, tmp_path, "switchboard", {"transcript": text, "tagged": "Uh/UH", "discourse": "x"})
    assert got == [("switchboard-transcript-0000", "Uh, do you have a pet?\nYeah, a poodle."),
                   ("switchboard-transcript-0001", "Hello there.\nHi.")]


def test_problem_reports_untagged_and_grouped(ppc, tmp_path):
    text = ("[navigation]/NNP Status/NNP line/NN loses/VBZ text/NN\n"
            "Ant.bat:/NNP %_JAVACMD%/NNP needs/VBZ to/TO be/VB quoted\n"
            "search/NN doesn't/NN work/NN in/IN HTTP/1.1/NN //NN and/or\n")
    got = docs(ppc, tmp_path, "problem_reports", {"eclipse": text.encode("latin-1")}, doc_words=8)
    assert [d for _, d in got] == ["[navigation] Status line loses text\nAnt.bat: %_JAVACMD% needs to be quoted",
                                   "search doesn't work in HTTP/1.1 / and/or"]


RTE = """<?xml version="1.0" encoding="UTF-8"?>
<entailment-corpus challenge="1">
<pair id="8" value="FALSE" task="IR">
\t<t>Crude oil traded at $37.80 a barrel.</t>
\t<h>Crude oil prices rose.</h>
</pair>
<pair id="9" value="TRUE" task="IR">
\t<t>Crude oil traded at $37.80 a barrel.</t>
\t<h>Companies don&apos;t need labels.</h>
</pair>
<pair id="12" value="FALSE" task="IR">
\t<t>Oracle fought to keep the forms.</t>
\t<h>Oracle released a document.</h>
</pair>
</entailment-corpus>
"""


def test_rte_text_then_hypotheses(ppc, tmp_path):
    got = docs(ppc, tmp_path, "rte", {"rte1_dev.xml": RTE})
    assert got == [("rte-rte1_dev.xml-0000",
                    "Crude oil traded at $37.80 a barrel.\nCrude oil prices rose.\nCompanies don't need labels.\n"
                    "Oracle fought to keep the forms.\nOracle released a document.")]


IEER = """<IEER_DOC type="NEWSWIRE">
<DOC>
<DOCNO> APW19980314.0391 </DOCNO>
<DOCTYPE> NEWS STORY </DOCTYPE>
<DATE_TIME> 03/14/1998 10:36:00 </DATE_TIME>
<BODY>
<HEADLINE>
Kenyans protest tax hikes
</HEADLINE>
<TEXT>
\t   <b_enamex type="LOCATION">NAIROBI<e_enamex>, <b_enamex type="LOCATION">Kenya<e_enamex> (AP) _ Thousands of
laborers protested on <b_timex type="DATE">Saturday<e_timex>.
<ANNOTATION>
\t   (STORY CAN END HERE. OPTIONAL MATERIAL FOLLOWS)
</ANNOTATION>
\t   By voice vote, they approved a resolution &amp; left.
</TEXT>
</BODY>
</DOC>
</IEER_DOC>
"""


def test_ieer_story_text_without_sgml(ppc, tmp_path):
    got = docs(ppc, tmp_path, "ieer", {"APW_19980314": IEER})
    assert got == [("ieer-APW19980314.0391-0000", "Kenyans protest tax hikes\n"
                    "NAIROBI, Kenya (AP) _ Thousands of laborers protested on Saturday.\n"
                    "By voice vote, they approved a resolution & left.")]


SENSEVAL = """<corpus lang="en">

<lexelt item="hard-a">

<instance id="hard-a.sjm-274_1:">

<answer instance="hard-a.sjm-274_1:" senseid="HARD1"/>

<context>

<s snum="29"/> <wf pos="``">``</wf> <wf pos="PRP">it</wf> <wf pos="VBZ">'s</wf> <head> <wf pos="JJ">hard</wf></head> \
<compound> <wf pos="JJ">to-reach</wf> </compound> <wf pos="JJ">3-1</wf> FRASL <wf pos="JJ">2-inch</wf> \
<wf pos="NNP">at&amp;t</wf> <wf pos=".">.</wf> <wf pos="''">''</wf>
</context>

</instance>

</lexelt>
</corpus>
"""


def test_senseval_context_words_only(ppc, tmp_path):
    got = docs(ppc, tmp_path, "senseval", {"hard.pos": SENSEVAL})
    assert got == [("senseval-hard.pos-0000", "\" it 's hard to-reach 3-1 / 2-inch at&t . \"")]


def test_movie_reviews_one_document_per_review(ppc, tmp_path):
    got = docs(ppc, tmp_path, "movie_reviews", {"pos/cv000_1.txt": "a great film . \n", "neg/cv000_2.txt": "bad .\n"})
    assert got == [("movie_reviews-neg_cv000_2.txt-0000", "bad ."), ("movie_reviews-pos_cv000_1.txt-0000",
                                                                     "a great film .")]


def test_main_dedups_and_writes_stats(ppc, tmp_path, capsys):
    nltk = tmp_path / "nltk"
    nltk.mkdir()
    make_zip(nltk, "abc", {"rural.txt": "Same  text here.\n", "science.txt": "Other text.\n"})
    make_zip(nltk, "webtext", {"a.txt": "Same text\nhere.\n", "b.txt": "Other text.\n", "c.txt": "New words.\n"})
    out = tmp_path / "out"
    ppc.main(["--nltk", str(nltk), "--out", str(out), "--corpora", "abc,webtext"])
    stats = json.loads((out / "corpus_stats.json").read_text())
    assert stats["corpora"]["abc"] == {"documents": 2, "words": 5, "duplicates_dropped": 0}
    assert stats["corpora"]["webtext"] == {"documents": 1, "words": 2, "duplicates_dropped": 2}
    assert stats["total"] == {"documents": 3, "words": 7, "duplicates_dropped": 2}
    assert sorted(p.name for p in out.glob("*.txt")) == ["abc-rural.txt-0000.txt", "abc-science.txt-0000.txt",
                                                         "webtext-c.txt-0000.txt"]
    table = capsys.readouterr().out
    assert re.search(r"^webtext\s+1\s+2\s+2$", table, re.M)


@pytest.mark.parametrize("name", ["qc", "sentence_polarity"])
def test_evaluation_sets_are_refused(ppc, tmp_path, name):
    make_zip(tmp_path, name, {"train.txt": "DESC:manner How did serfdom develop ?\n"})
    with pytest.raises(SystemExit) as exc:
        ppc.main(["--nltk", str(tmp_path), "--out", str(tmp_path / "out"), "--corpora", f"abc,{name}"])
    message = str(exc.value)
    assert name in message and "evaluation set" in message and "\n" not in message
    assert not (tmp_path / "out").exists()
    assert not set(ppc.EXCLUDED) & set(ppc.CORPORA)


def test_missing_zip_and_unknown_corpus(ppc, tmp_path):
    with pytest.raises(SystemExit, match=r"brown\.zip not found .*--nltk"):
        ppc.main(["--nltk", str(tmp_path), "--out", str(tmp_path / "out"), "--corpora", "brown"])
    with pytest.raises(SystemExit, match="unknown corpus 'nope'"):
        ppc.main(["--nltk", str(tmp_path), "--out", str(tmp_path / "out"), "--corpora", "nope"])


def test_release1_alias(ppc):
    assert ppc.parse_corpora("release1,movie_reviews,abc") == [
        "brown", "abc", "state_union", "webtext", "inaugural", "movie_reviews"]


def test_list_and_default_folder(ppc, monkeypatch, capsys):
    ppc.main(["--list"])
    listed = capsys.readouterr().out
    assert all(re.search(rf"^{name}\s+\S", listed, re.M) for name in ppc.CORPORA)
    assert re.search(r"^qc\s+refused", listed, re.M)
    monkeypatch.setenv("ULMFIT_SHARED_DATA", "/somewhere/data")
    assert ppc.default_nltk_dir() == Path("/somewhere/data/nltk")
    monkeypatch.delenv("ULMFIT_SHARED_DATA")
    assert ppc.default_nltk_dir() == SCRIPT.parents[2] / "shared" / "data" / "nltk"


LEFTOVERS = {
    "brown": re.compile(r"[A-Za-z]/(?:nn|at|vbd|in|jj)(?=\s|$)"),  # not ``B.t.u./sq. ft./in.``
    "masc_tagged": re.compile(r"\S_(?:NN|NNP|DT|IN|VBD)\b"),
    "nps_chat": re.compile(r"<Post|<terminals|<t pos="),
    "problem_reports": re.compile(r"\S/(?:NN|NNP|VBZ|IN|DT)\b"),
    "senseval": re.compile(r"<wf|</?head>|<context>|FRASL"),
    "product_reviews_1": re.compile(r"##|\[[+-]\d\]|^\[t\]", re.M),
    "comparative_sentences": re.compile(r"</?cs-\d|^\s*\d_\S", re.M),
    "ieer": re.compile(r"<b_enamex|<e_enamex|<TEXT>|<DOCNO>"),
}


def test_real_corpora_have_no_leftover_markup(ppc, shared_data):
    nltk = shared_data / "nltk"
    for name, pattern in LEFTOVERS.items():
        if not (nltk / f"{name}.zip").is_file():
            pytest.skip(f"{name}.zip not in {nltk}")
        got = list(ppc.corpus_documents(nltk / f"{name}.zip", name, 2000))
        assert len(got) > 10, name
        bad = [(doc_id, m.group()) for doc_id, doc in got for m in [pattern.search(doc)] if m]
        assert not bad, f"{name}: leftover markup {bad[:3]}"

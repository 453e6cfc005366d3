"""Regenerate ``fastai_parity.json``: the expected tokens of fastai 2.8.12 for the texts below.

Not a test and never imported by the tests. Run it with a Python that has fastai 2.8.12 installed:

    /tmp/fastai_venv/bin/python tests/ulmfit/text/make_fastai_parity.py

For every text it records ``tokenize1(text, SpacyTokenizer())`` (fastai's dataset path: default rules,
spaCy, ``replace_space``) and checks that ``tokenize_texts(texts, n_workers=0)`` agrees. It also records
``make_vocab`` over those tokens for a few (min_freq, max_vocab) settings.
"""

import json
from pathlib import Path

LONG_WORD = "Supercalifragilistic" + "expialidocious" * 4 + "andgoing"

TEXTS = [
    # the facts-file cases
    "I loved it &amp; my wife said it was &quot;great&quot; &#39;really&#39; &lt;3",
    "First line.<br /><br />Second line.<br />Third",
    "This movie was sooooo good!!!!!! Hmmm...",
    "It was very very very very bad, really really bad.",
    "This is THE BEST movie EVER, I SAID IT.",
    "Paris is lovely. John and Mary went to New York in May.",
    "Great film 😀😀😀 would watch again 👍🏽 ❤️",
    "It cost $12.50 (about 1,000,000 yen) in 2019; rated 8/10 and #1 at 3:45pm.",
    "See https://www.example.com/path?q=1&x=2 or email me at john.doe@mail.com",
    "",
    "   \n\t  ",
    LONG_WORD,
    "Ça coûte 5€, naïve façade. Größe über alles! Привет мир. 東京は素晴らしい。 مرحبا",
    "Hello \n\n world",
    "tab\there  and   spaces",
    "The The The The",
    "NASA's",
    "I'm OK",
    "A. B. C.",
    "C# and F#",
    "a<br>b",
    "A literal <unk> token",
    "\\nleading and trailing\\n",
    "nbsp;space",
    # more HTML and wiki markup
    "Tom &amp; Jerry &gt; Mickey &nbsp; and &#36;5 &#146;quoted&#146; &copy; 2020",
    "He said \\\"no\\\" and left.<br/>Next<br>line",
    "The 1 @,@ 000 people @-@ strong army @.@ marched . <unk> <unk>",
    "Wiki heading = = Plot = = \n The film opens ...",
    # repeats
    "Nooooo!!! Whyyyy??? ... ..... -----",
    "ha ha ha ha ha, go go go! buffalo buffalo buffalo buffalo buffalo buffalo buffalo buffalo",
    "yes yes yes\nno no no\tmaybe maybe maybe",
    "1000000 and 999 and 2222222222 and aaa and AAA and zzz.",
    "word word word. Word Word Word? WORD WORD WORD!",
    "the the the the end",
    # capitalisation
    "McDonald's iOS iPhone HeLLo eBay YouTube",
    "(Very good) \"Best film\" 'Quoted Words' [Brackets] {Braces}",
    "U.S.A. vs U.K. in the UN, said the CEO of IBM Corp.",
    "ÉCOLE Élan Ñandú ÜBER Über X Y Z",
    "I I I think I am I",
    # contractions and spaCy exceptions
    "I don't know, you can't say, we won't go, they're gonna wanna gotta.",
    "Let's go! Y'all ain't seen nothin' yet, ma'am. o'clock rock'n'roll",
    "e.g. i.e. etc. Mr. Mrs. Dr. St. vs. a.m. p.m. Inc. Ltd.",
    # numbers, punctuation, symbols
    "3.14159 -42 +7 1e10 50% 100km 5kg 10:30 2020-01-01 1/2 3rd 21st",
    "Prices: £5, ¥100, €20, $3.99; 10$ and 20€ (approx.)",
    "Hmm... what?! Really?!?! Yes -- no --- maybe ... ok…",
    "email: first.last+tag@sub.domain.co.uk, url: http://a.b/c#frag, ftp://x.y",
    "#hashtag @mention C:\\Users\\name\\file.txt /usr/bin/env",
    ":) :-( ;) <3 :D xD ^_^ o_O",
    # unicode odds and ends
    "Zero\u200bwidth and non\u00a0breaking and em\u2003space and \u2028line sep",
    "Emoji seq 👨‍👩‍👧‍👦 flags 🇫🇷🇩🇪 keycap 1️⃣ skin 👋🏿",
    "Combining e\u0301 vs é, ligature ﬁ, fullwidth ＡＢＣ，",
    "Ελληνικά Κείμενα και ΚΕΦΑΛΑΙΑ. Русский ТЕКСТ. עברית",
    "中文句子，没有空格。日本語の文章です！한국어 문장입니다.",
    # whitespace shapes
    "  leading spaces",
    "trailing spaces   ",
    "multi\n\n\nline\r\nwindows\rcarriage\n \n mixed \t \n end",
    "a \n b \t c  \n  d",
    "\n\nStarts with newlines and ends with tabs\t\t",
    # reviews-like texts
    "This film is a masterpiece. The acting was superb, the direction flawless, and the score? "
    "Unforgettable! 10/10 would recommend to anyone who loves cinema.<br /><br />Don't miss it!!!",
    "Worst. Movie. Ever. I want my 2 hours back... The plot made NO sense whatsoever, and the "
    "\"hero\" was annoying. 1/10",
    "plot : two teen couples go to a church party , drink and then drive . they get into an accident . "
    "one of the guys dies , but his girlfriend continues to see him in her life , and has nightmares .",
    "I saw this at the Toronto International Film Festival (TIFF) in 2005 -- it's an odd, quiet film. "
    "Director Jean-Luc Godard's influence is obvious; the long takes (some 10+ minutes!) test patience.",
    "SPOILER ALERT!!! The butler did it. Or did he??? Watch & see ;-)",
    "Rating: ★★★★☆ (4/5)... Not bad at all :)",
    "x" * 300,
    " ".join(["lorem"] * 3 + ["Ipsum"] * 2 + ["DOLOR"] * 4 + ["sit"]),
]


def main() -> None:
    from collections import Counter

    import fastai
    from fastai.text.all import SpacyTokenizer, make_vocab, tokenize1, tokenize_texts

    tok = SpacyTokenizer()
    expected = [list(tokenize1(text, tok)) for text in TEXTS]
    batch = [list(t) for t in tokenize_texts(TEXTS, n_workers=0)]
    if batch != expected:
        raise SystemExit("tokenize1 and tokenize_texts disagree; inspect before recording")
    out = Path(__file__).with_name("fastai_parity.json")
    counter = Counter(tok for toks in expected for tok in toks)
    vocabs = [{"min_freq": mf, "max_vocab": mv, "itos": list(make_vocab(counter, min_freq=mf, max_vocab=mv))}
              for mf, mv in [(1, 60000), (2, 60000), (3, 60000), (1, 40), (2, 16)]]
    record = {
        "source": f"fastai {fastai.__version__}: list(tokenize1(text, SpacyTokenizer())) per text; "
                  f"make_vocab(Counter(all tokens), min_freq, max_vocab)",
        "cases": [{"text": t, "tokens": e} for t, e in zip(TEXTS, expected)],
        "vocabs": vocabs,
    }
    out.write_text(json.dumps(record, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {len(TEXTS)} cases to {out}")


if __name__ == "__main__":
    main()

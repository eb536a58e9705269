"""The chat's HTML: corpus text escaped, the answer marked inside the passage it came from."""

from qa.types import Answer, Article, Chunk, Hit, Result, Span
from qa.web.render import marked, result_html, source_html, source_line

TEXT = "First <b>passage</b>. Second one. The answer is <script>alert(1)</script> here."


def hit(rank: int, start: int, end: int) -> Hit:
    chunk = Chunk(f"a.txt#{rank - 1}", "a.txt", rank - 1, start, end, TEXT[start:end], ((start, end),))
    return Hit(rank=rank, score=1.0 / rank, chunk=chunk, title="A <i>title</i>")


def test_the_answer_is_marked_in_its_own_passage_and_everything_is_escaped() -> None:
    first, second = hit(1, 0, 33), hit(2, 34, len(TEXT))
    answer = Answer("The answer is <script>alert(1)</script> here.", "a.txt#1", "a.txt", 34, len(TEXT))
    page = result_html(Result("q", answer, (first, second)))
    assert '<mark class="qa-answer">The answer is &lt;script&gt;alert(1)&lt;/script&gt; here.</mark>' in page
    assert "<script>" not in page and "<b>" not in page and "<i>" not in page
    assert "a.txt#1" in page


def test_the_exact_answer_is_bold_inside_the_marked_sentence_and_the_answer_line() -> None:
    start = TEXT.index("<script>")
    span = Span("<script>alert(1)</script>", start, start + len("<script>alert(1)</script>"))
    answer = Answer("The answer is <script>alert(1)</script> here.", "a.txt#1", "a.txt", 34, len(TEXT), span=span)
    page = result_html(Result("q", answer, (hit(2, 34, len(TEXT)),)))
    bold = '<strong class="qa-span">&lt;script&gt;alert(1)&lt;/script&gt;</strong>'
    # the answer line: the sentence, the exact answer in bold
    assert f'<p class="qa-answer-line">The answer is {bold} here.</p>' in page
    # the passage: one mark for the sentence, the exact answer bold inside it
    assert f'<mark class="qa-answer">The answer is {bold} here.</mark>' in page
    assert "<script>" not in page


def test_an_unsure_answer_says_so_above_it_and_a_sure_one_does_not() -> None:
    answer = Answer("First <b>passage</b>.", "a.txt#0", "a.txt", 0, 21)
    unsure = result_html(Result("q", answer, (hit(1, 0, 33),), unsure=True))
    assert unsure.index('<p class="qa-unsure">Not sure: the best sentence reads only weakly as an answer to it.</p>') \
        < unsure.index('<p class="qa-answer-line">')
    assert "qa-unsure" not in result_html(Result("q", answer, (hit(1, 0, 33),)))


def test_no_answer_says_so_and_shows_the_closest_passage() -> None:
    page = result_html(Result("q", None, (hit(1, 0, 33),), abstained=True))
    assert "The corpus does not answer this." in page
    assert "First &lt;b&gt;passage&lt;/b&gt;." in page
    assert "<mark" not in page


def test_the_reason_for_an_abstention_is_said_escaped() -> None:
    reason = "None of the closest passages mentions “<img src=x onerror=alert(1)>”."
    page = result_html(Result("q", None, (hit(1, 0, 33),), abstained=True, reason=reason))
    assert (
        "<strong>The corpus does not answer this.</strong> None of the closest passages mentions"
        " “&lt;img src=x onerror=alert(1)&gt;”. The closest passages:"
    ) in page
    assert "<img" not in page


def test_the_next_passages_are_closed_cards_with_rank_score_and_retrievers() -> None:
    first, second = hit(1, 0, 33), hit(2, 34, len(TEXT))
    second = Hit(rank=2, score=0.25, chunk=second.chunk, title=second.title, found_by={"dense": 4, "bm25": 1})
    answer = Answer("First <b>passage</b>.", "a.txt#0", "a.txt", 0, 21)
    page = result_html(Result("q", answer, (first, second)))
    assert page.count("<details") == 1 and "<details open" not in page
    card = page[page.index("<details"):]
    assert "#2 · score 0.250 · found by BM25 #1, dense #4 · a.txt#1" in card
    assert '<button class="qa-open" type="button" value="a.txt#1">' in card
    assert "<mark" not in card  # the answer is in the first passage, not this one


def test_an_abstention_shows_every_closest_passage_as_a_card() -> None:
    page = result_html(Result("q", None, (hit(1, 0, 33), hit(2, 34, len(TEXT))), abstained=True))
    assert page.index("The corpus does not answer this.") < page.index("<details")
    assert page.count('<details class="qa-card">') == 2
    assert "qa-answer-line" not in page


def test_source_line_links_only_http_urls_and_escapes_them() -> None:
    article = Article("a.txt", "T", TEXT, "0", path="a.txt", source="Daily <News>", url='https://x.test/?a="1"&b')
    line = source_line(article)
    assert line.startswith(
        '<span class="qa-outlet">Daily &lt;News&gt;</span> · <a href="https://x.test/?a=&quot;1&quot;&amp;b"'
    )
    assert 'rel="noopener noreferrer nofollow"' in line
    unsafe = source_line(Article("a.txt", "T", TEXT, "0", path="a.txt", url="javascript:alert(1)"))
    assert "<a" not in unsafe and "javascript:alert(1)" in unsafe


def test_the_source_viewer_marks_passage_and_answer_and_targets_the_answer() -> None:
    article = Article("a.txt", "A <i>title</i>", TEXT, "0", path="a.txt")
    chunk = hit(2, 21, len(TEXT)).chunk
    page = source_html(article, chunk, (34, len(TEXT)))
    assert '<mark class="qa-in-passage"> Second one. </mark>' in page
    assert (
        '<mark class="qa-in-passage"><mark id="qa-scroll-target" class="qa-answer">The answer is'
        " &lt;script&gt;alert(1)&lt;/script&gt; here.</mark></mark>"
    ) in page
    assert page.count("qa-scroll-target") == 1
    assert "First &lt;b&gt;passage&lt;/b&gt;." in page and "<b>" not in page and "<i>" not in page
    only_passage = source_html(article, chunk)
    assert '<mark id="qa-scroll-target" class="qa-in-passage">' in only_passage


def test_marked_cuts_overlapping_spans_into_nested_marks() -> None:
    text = "abcdefgh"
    assert marked(text, 10, [(11, 15, "p"), (13, 17, "a")]) == (
        'a<mark class="p">bc</mark><mark class="p"><mark class="a">de</mark></mark><mark class="a">fg</mark>h'
    )
    assert marked("a<b", 0, []) == "a&lt;b"

"""The chat's HTML: corpus text escaped, the answer marked inside the passage it came from."""

from qa.render import result_html
from qa.types import Answer, Chunk, Hit, Result

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


def test_no_answer_says_so_and_shows_the_closest_passage() -> None:
    page = result_html(Result("q", None, (hit(1, 0, 33),), abstained=True))
    assert "The corpus does not answer this." in page
    assert "First &lt;b&gt;passage&lt;/b&gt;." in page
    assert "<mark" not in page

"""HTML for answers, shared by the web chat. Every piece of corpus text goes through
:func:`html.escape`; markup is only ever added around escaped text."""

from __future__ import annotations

import html

from qa.types import Hit, Result


def highlighted(text: str, offset: int, start: int, end: int) -> str:
    """``text`` (which starts at ``offset`` in its article) with ``[start, end)`` in <mark>."""
    left, right = max(start - offset, 0), max(min(end - offset, len(text)), 0)
    if left >= right:
        return html.escape(text)
    return (
        html.escape(text[:left])
        + '<mark class="qa-answer">'
        + html.escape(text[left:right])
        + "</mark>"
        + html.escape(text[right:])
    )


def passage_html(hit: Hit, result: Result) -> str:
    answer = result.answer
    if answer and answer.chunk_id == hit.chunk.id:
        body = highlighted(hit.chunk.text, hit.chunk.start, answer.start, answer.end)
    else:
        body = html.escape(hit.chunk.text)
    return (
        f'<div class="qa-passage"><div class="qa-source">{html.escape(hit.title)}'
        f' <span class="qa-cite">[{html.escape(hit.chunk.id)} · score {hit.score:.3f}]</span></div>'
        f"<p>{body}</p></div>"
    )


def result_html(result: Result) -> str:
    """The chat reply: the answer sentence, then its passage with the sentence marked."""
    if not result.hits:
        return "<p>The index is empty: add articles and run <code>qa index</code>.</p>"
    if result.abstained or result.answer is None:
        parts = ["<p><strong>The corpus does not answer this.</strong> The closest passages:</p>"]
    else:
        parts = [f'<p class="qa-answer-line"><strong>{html.escape(result.answer.text)}</strong></p>']
    parts.append(passage_html(answer_hit(result), result))
    return "\n".join(parts)


def answer_hit(result: Result) -> Hit:
    """The passage the answer sentence was taken from (it may not be the first one)."""
    chunk_id = result.answer.chunk_id if result.answer else None
    return next((hit for hit in result.hits if hit.chunk.id == chunk_id), result.hits[0])

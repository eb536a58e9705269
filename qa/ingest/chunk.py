"""Pack whole sentences into chunks that fit the embedding model's window.

Tokens are counted with the model's own tokenizer (the ``tokenizers`` library, so chunking
needs neither torch nor transformers). A chunk's embedded text is the article title, then the
chunk text; the whole of it, with [CLS] and [SEP], stays within the model's window, so nothing
is ever silently truncated. A sentence too long for a chunk on its own is cut between words.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from qa.config import ChunkSettings
from qa.embed.model import model_window
from qa.text.sentences import split_sentences
from qa.types import Article, Chunk

SPECIAL_TOKENS = 2  # [CLS] and [SEP]


class TokenCounter:
    """Counts word pieces the way the embedding model sees them.

    ``max_tokens`` is the model's window (``max_seq_length`` of a sentence-transformers model).
    """

    def __init__(self, model_dir: Path) -> None:
        from tokenizers import Tokenizer

        self.tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self.tokenizer.no_truncation()
        self.tokenizer.no_padding()
        self.max_tokens = model_window(model_dir)

    def count(self, texts: Sequence[str]) -> list[int]:
        """Word pieces of each text, special tokens not included."""
        encodings = self.tokenizer.encode_batch(list(texts), add_special_tokens=False)
        return [len(encoding.ids) for encoding in encodings]

    def offsets(self, text: str) -> list[tuple[int, int]]:
        """Character span of each word piece of ``text``."""
        return self.tokenizer.encode(text, add_special_tokens=False).offsets

    def shorten(self, text: str, max_tokens: int) -> str:
        """``text`` cut after at most ``max_tokens`` word pieces (whole pieces)."""
        if max_tokens <= 0:
            return ""
        offsets = self.offsets(text)
        if len(offsets) <= max_tokens:
            return text
        return text[: offsets[max_tokens - 1][1]]


def embed_text(title: str, text: str) -> str:
    """What is embedded for a chunk: the title prepended, so a passage knows its subject."""
    return f"{title}\n{text}" if title else text


class Chunker:
    """Cuts articles into :class:`Chunk` objects; see the module docstring."""

    def __init__(self, counter: TokenCounter, settings: ChunkSettings) -> None:
        if settings.overlap_sentences < 0:
            raise ValueError("overlap_sentences cannot be negative")
        self.counter = counter
        self.settings = settings
        self.window = min(settings.target_tokens, counter.max_tokens) - SPECIAL_TOKENS
        if self.window < 16:
            raise ValueError(f"target_tokens {settings.target_tokens} leaves no room for text")

    def title_prefix(self, article: Article) -> str:
        """The part of the title that goes in front of every chunk's embedded text."""
        budget = min(self.settings.title_tokens, self.window // 4)
        return self.counter.shorten(article.title, budget) if article.title else ""

    def embedded(self, article: Article, chunk: Chunk) -> str:
        return embed_text(self.title_prefix(article), chunk.text)

    def chunk(self, article: Article) -> list[Chunk]:
        title = self.title_prefix(article)
        limit = self.window + SPECIAL_TOKENS
        budget = self.window - (self.counter.count([title + "\n"])[0] if title else 0)
        # Word pieces add up across whitespace, so a run of sentences costs the sum of their
        # counts. Only text cut inside a word can tokenize differently once joined again; then
        # the budget shrinks by the overflow and the article is packed again.
        for _ in range(8):
            chunks = self._chunks(article, budget)
            counts = self.counter.count([embed_text(title, chunk.text) for chunk in chunks])
            overflow = max((count + SPECIAL_TOKENS - limit for count in counts), default=0)
            if overflow <= 0:
                return chunks
            budget -= overflow
        raise AssertionError(f"cannot fit {article.id} into chunks of {limit} tokens")  # pragma: no cover

    def _chunks(self, article: Article, budget: int) -> list[Chunk]:
        spans = self._fit_sentences(article.text, split_sentences(article.text), budget)
        counts = self.counter.count([article.text[start:end] for start, end in spans])
        starts_paragraph = [i > 0 and "\n" in article.text[spans[i - 1][1] : spans[i][0]] for i in range(len(spans))]
        chunks = []
        for n, (first, last) in enumerate(self._pack(counts, budget, starts_paragraph)):
            sentences = tuple(spans[first : last + 1])
            start, end = sentences[0][0], sentences[-1][1]
            chunks.append(
                Chunk(
                    id=f"{article.id}#{n}",
                    article_id=article.id,
                    n=n,
                    start=start,
                    end=end,
                    text=article.text[start:end],
                    sentences=sentences,
                )
            )
        return chunks

    def _fit_sentences(
        self, text: str, spans: list[tuple[int, int]], budget: int
    ) -> list[tuple[int, int]]:
        """Sentences, with any that cannot fit a chunk alone cut into pieces that do."""
        counts = self.counter.count([text[start:end] for start, end in spans])
        fitted: list[tuple[int, int]] = []
        for (start, end), count in zip(spans, counts):
            if count <= budget:
                fitted.append((start, end))
            else:
                fitted.extend(self._cut(text, start, end, budget))
        return fitted

    def _cut(self, text: str, start: int, end: int, budget: int) -> list[tuple[int, int]]:
        """Cut text[start:end] into pieces of at most ``budget`` word pieces each, counted on
        their own, between words where possible (inside a word only when one word is too long)."""
        offsets = [(s + start, e + start) for s, e in self.counter.offsets(text[start:end])]
        pieces = []
        first = 0
        while first < len(offsets):
            last = min(first + budget, len(offsets))  # exclusive
            if last < len(offsets):
                # back off to a word boundary: a piece that starts after whitespace
                cut = last
                while cut > first + 1 and offsets[cut][0] == offsets[cut - 1][1]:
                    cut -= 1
                if cut > first + 1:
                    last = cut
            # a piece cut inside a word can take more word pieces on its own than in context
            while last > first + 1 and self.counter.count([text[offsets[first][0] : offsets[last - 1][1]]])[0] > budget:
                last -= 1
            pieces.append((offsets[first][0], offsets[last - 1][1]))
            first = last
        return pieces

    def _pack(self, counts: list[int], budget: int, starts_paragraph: list[bool]) -> list[tuple[int, int]]:
        """Greedy runs (first, last) of sentences within the budget.

        A chunk that is already ``paragraph_fill`` full ends where a paragraph ends, so a
        passage keeps to one topic. The next chunk starts with the last ``overlap_sentences``
        sentences of the one before, except across a paragraph break or where those sentences
        would leave no room for a new one (the chunk would only repeat its predecessor).
        """
        fill = self.settings.paragraph_fill * budget
        groups: list[tuple[int, int]] = []
        first = 0
        while first < len(counts):
            last, total = first, counts[first]
            while last + 1 < len(counts) and total + counts[last + 1] <= budget:
                if starts_paragraph[last + 1] and total >= fill:
                    break
                last += 1
                total += counts[last]
            groups.append((first, last))
            if last == len(counts) - 1:
                break
            first = max(first + 1, last + 1 - self.settings.overlap_sentences)
            if starts_paragraph[last + 1] or sum(counts[first : last + 2]) > budget:
                first = last + 1
        return groups

"""Late-chunked sentence vectors: qa.embed.protocol.pool_spans by hand, and with the real model."""

from __future__ import annotations

import numpy as np
import pytest

from qa.embed.protocol import pool_spans


def test_pool_spans_averages_the_tokens_that_start_in_each_span() -> None:
    tokens = np.array([[9, 9], [1, 0], [3, 0], [0, 2], [9, 9]], dtype=np.float32)  # [CLS] a b c [SEP]
    offsets = [(0, 0), (0, 3), (4, 7), (8, 12), (0, 0)]
    pooled = pool_spans(tokens, offsets, [(0, 7), (8, 12), (6, 12)])
    # (1,0)+(3,0) -> (2,0) -> (1,0); (0,2) -> (0,1); a span starting mid-token takes the tokens starting in it
    assert pooled.tolist() == [[1.0, 0.0], [0.0, 1.0], [0.0, 1.0]]


def test_a_span_without_tokens_gets_the_whole_text() -> None:
    tokens = np.array([[0, 0], [3, 0], [0, 4], [0, 0]], dtype=np.float32)
    pooled = pool_spans(tokens, [(0, 0), (0, 1), (2, 3), (0, 0)], [(10, 20)])
    assert pooled[0] == pytest.approx([0.6, 0.8])  # mean (1.5, 2) of the real tokens, normalised


def test_padding_rows_beyond_the_offsets_are_ignored() -> None:
    tokens = np.array([[0, 0], [1, 0], [0, 0], [5, 5], [5, 5]], dtype=np.float32)  # two padding rows
    pooled = pool_spans(tokens, [(0, 0), (0, 4), (0, 0)], [(0, 4)])
    assert pooled.tolist() == [[1.0, 0.0]]


def test_real_model_sentence_vectors_match_their_sentences(embedder) -> None:
    text = (
        "Iran and Pakistan\nThe general met the prime minister in Islamabad. Joint naval drills will be held next year."
    )
    first = (18, text.index(" Joint"))
    second = (text.index("Joint"), len(text))
    vectors, pooled = embedder.encode_spans([text], [[first, second]])
    assert np.allclose(vectors, embedder.encode([text]), atol=1e-5)
    assert pooled[0].shape == (2, 384)
    assert np.allclose(np.linalg.norm(pooled[0], axis=1), 1, atol=1e-5)
    alone = embedder.encode([text[first[0]:first[1]], text[second[0]:second[1]]])
    similarity = pooled[0] @ alone.T
    # each pooled sentence is closest to its own sentence encoded alone
    assert similarity[0, 0] > similarity[0, 1] and similarity[1, 1] > similarity[1, 0]
    assert similarity[0, 0] > 0.7 and similarity[1, 1] > 0.7

"""The embedding backends against the reference (sentence-transformers, fp32), with the real model.

Tolerances (measured on 256 BBC passages, docs/BENCHMARKS.md): ONNX fp32 matches the reference
to float rounding (cosine > 0.99999); ONNX int8 keeps mean cosine ~0.993, min ~0.985, so the
tests ask for mean >= 0.98 and min >= 0.96 on a handful of texts.
"""

from __future__ import annotations

import json
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from qa.config import DEFAULT_BACKEND, Settings, settings_from_env
from qa.embed.backends import index_backend, make_embedder
from qa.embed.export import export_dir
from qa.embed.onnx_backend import OnnxEmbedder
from qa.embed.torch_backend import SentenceTransformerEmbedder
from qa.errors import ConfigError
from qa.indexing.manifest import Manifest

TEXTS = [
    "Who is the chief of staff of the Iranian armed forces?",
    "Rovers beat City 2-1.",
    "The National Bank of Veloria raised its main interest rate by a quarter of a percentage point to 4.5"
    " percent on Thursday. Governor Anna Kessler said inflation remained too high at 5.2 percent.",
    # longer than the tokenizer.json's own 128-token truncation: the backend must read 256 like
    # sentence-transformers does
    " ".join(["The Monte Fuego volcano on Isla Brava erupted on Tuesday night, sending ash five kilometres"
              " into the sky, and authorities evacuated 2,000 residents from villages on its slopes."] * 5),
    "",
]


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("qa-cache")


@pytest.fixture(scope="module")
def onnx_fp32(model_dir: Path, cache_dir: Path) -> OnnxEmbedder:
    return OnnxEmbedder(model_dir, quantized=False, cache_dir=cache_dir, batch_size=2)


@pytest.fixture(scope="module")
def onnx_int8(model_dir: Path, cache_dir: Path) -> OnnxEmbedder:
    return OnnxEmbedder(model_dir, quantized=True, cache_dir=cache_dir, batch_size=2)


@pytest.fixture(scope="module")
def reference(torch_embedder) -> np.ndarray:
    return torch_embedder.encode(TEXTS)


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sum(a * b, axis=1)


@pytest.mark.slow  # a fresh ONNX export, or torch
def test_onnx_fp32_matches_the_reference(onnx_fp32: OnnxEmbedder, reference: np.ndarray) -> None:
    vectors = onnx_fp32.encode(TEXTS)  # batch size 2: padded batches of mixed lengths
    assert vectors.shape == (len(TEXTS), 384) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert cosines(vectors, reference).min() > 0.99999


@pytest.mark.slow  # a fresh ONNX export, or torch
def test_onnx_int8_agrees_with_the_reference(onnx_int8: OnnxEmbedder, reference: np.ndarray) -> None:
    similarity = cosines(onnx_int8.encode(TEXTS), reference)
    assert similarity.mean() >= 0.98, similarity
    assert similarity.min() >= 0.96, similarity


@pytest.mark.slow  # a fresh ONNX export, or torch
def test_order_and_batching_do_not_change_vectors(onnx_fp32: OnnxEmbedder) -> None:
    together = onnx_fp32.encode(TEXTS)
    alone = np.vstack([onnx_fp32.encode([text]) for text in reversed(TEXTS)])[::-1]
    np.testing.assert_allclose(together, alone, atol=2e-5)


@pytest.mark.slow  # a fresh ONNX export, or torch
def test_int8_vectors_do_not_depend_on_the_batch(onnx_int8: OnnxEmbedder) -> None:
    # dynamic quantisation scales by the whole run's range: each text runs alone, so a text
    # gets the same vector (and sentence vectors) whatever it is indexed with
    together = onnx_int8.encode(TEXTS)
    assert np.array_equal(together, np.vstack([onnx_int8.encode([text]) for text in TEXTS]))
    assert np.array_equal(together, onnx_int8.encode(TEXTS[::-1])[::-1])
    halves = [[(0, len(text) // 2), (len(text) // 2, len(text))] for text in TEXTS]
    _, spans_together = onnx_int8.encode_spans(TEXTS, halves)
    for text, span, expected in zip(TEXTS, halves, spans_together):
        assert np.array_equal(onnx_int8.encode_spans([text], [span])[1][0], expected)


def asked_from_many_threads(
    embedder, model, method: str
) -> tuple[set[threading.Thread], list[np.ndarray], list[np.ndarray]]:
    """Encode each text alone, then from 8 threads at once (and all of them in one call) while
    ``model.method`` notes the threads it runs on. Returns (those threads, the vectors asked
    alone, the vectors asked at once, in the same order)."""
    callers: set[threading.Thread] = set()  # the threads themselves: a new one may reuse a name
    original = getattr(model, method)

    def recording(*args, **kwargs):
        callers.add(threading.current_thread())
        return original(*args, **kwargs)

    alone = [embedder.encode([text]) for text in TEXTS]
    setattr(model, method, recording)
    try:
        with ThreadPoolExecutor(8, thread_name_prefix="asker") as askers:
            together = list(askers.map(lambda text: embedder.encode([text]), TEXTS * 4))
        embedder.encode(TEXTS)  # several batches in one call
    finally:
        setattr(model, method, original)
    return callers, alone * 4, together


@pytest.mark.slow  # a fresh ONNX export, or torch
def test_the_onnx_model_runs_only_on_the_encoders_own_threads(onnx_fp32: OnnxEmbedder) -> None:
    """A server answers on whichever of its threads is free; the session must still run only
    on the encoder's `workers` threads (docs/RELIABILITY.md, "Load"), and answers given
    concurrently must equal the ones given one at a time."""
    encoder = onnx_fp32.encoder

    class Session:  # a stand-in whose `run` can be replaced (InferenceSession's cannot)
        run = encoder.session.run

    real, encoder.session = encoder.session, Session()
    try:
        callers, alone, together = asked_from_many_threads(onnx_fp32, encoder.session, "run")
    finally:
        encoder.session = real
    assert 1 <= len(callers) <= onnx_fp32.workers, callers
    assert all(thread.name.startswith("qa-onnx") for thread in callers), callers
    for vectors, expected in zip(together, alone):
        np.testing.assert_allclose(vectors, expected, atol=1e-6)


@pytest.mark.slow  # a fresh ONNX export, or torch
def test_the_torch_model_runs_only_on_the_embedders_own_thread(torch_embedder: SentenceTransformerEmbedder) -> None:
    callers, alone, together = asked_from_many_threads(torch_embedder, torch_embedder.model, "encode")
    assert [thread.name for thread in callers] == ["qa-torch_0"]
    for vectors, expected in zip(together, alone):
        np.testing.assert_allclose(vectors, expected, atol=1e-6)


@pytest.mark.slow  # a fresh ONNX export, or torch
def test_fingerprints_separate_backends_whose_vectors_differ(torch_embedder, onnx_fp32, onnx_int8) -> None:
    embedder = torch_embedder
    # fp32 vectors are the reference's, so either may query the other's index; int8 may not
    assert onnx_fp32.fingerprint == embedder.fingerprint
    assert onnx_int8.fingerprint != embedder.fingerprint
    assert len({embedder.name, onnx_fp32.name, onnx_int8.name}) == 3
    assert (embedder.backend, onnx_fp32.backend, onnx_int8.backend) == ("torch", "onnx", "onnx-int8")
    assert onnx_int8.dim == onnx_fp32.dim == embedder.dim == 384


@pytest.mark.slow  # a fresh ONNX export, or torch
def test_export_is_cached_and_complete(onnx_fp32, onnx_int8, cache_dir: Path) -> None:
    onnx_fp32.encode(["x"]), onnx_int8.encode(["x"])
    folder = export_dir(cache_dir, onnx_fp32.base_fingerprint)
    assert sorted(path.name for path in folder.iterdir()) == ["model-fp32.onnx", "model-int8.onnx"]
    before = {path.name: path.stat().st_mtime_ns for path in folder.iterdir()}
    again = OnnxEmbedder(onnx_fp32.model_dir, quantized=True, cache_dir=cache_dir)
    again.encode(["y"])
    assert {path.name: path.stat().st_mtime_ns for path in folder.iterdir()} == before


@pytest.mark.slow  # a fresh ONNX export, or torch
def test_encode_spans_gives_the_text_vectors_and_one_vector_per_span(onnx_fp32: OnnxEmbedder) -> None:
    text = TEXTS[2]
    first_end = text.index("Thursday.") + len("Thursday.")
    spans = [[(0, first_end), (first_end + 1, len(text))], [(0, 6)]]
    vectors, per_text = onnx_fp32.encode_spans([text, TEXTS[1]], spans)
    np.testing.assert_allclose(vectors, onnx_fp32.encode([text, TEXTS[1]]), atol=1e-5)
    assert [v.shape for v in per_text] == [(2, 384), (1, 384)]
    np.testing.assert_allclose(np.linalg.norm(per_text[0], axis=1), 1.0, atol=1e-5)
    # each sentence's vector is closer to a question about it than the other sentence's is
    question = onnx_fp32.encode(["What did the governor say about inflation?"])[0]
    assert per_text[0][1] @ question > per_text[0][0] @ question


def sentence_spans(text: str) -> list[tuple[int, int]]:
    from qa.text.sentences import split_sentences

    return list(split_sentences(text)) + [(0, 0)]  # and an empty span: the whole text's mean


@pytest.mark.slow  # a fresh ONNX export, or torch
@pytest.mark.parametrize("backend", ["onnx_fp32", "onnx_int8"])
def test_encode_spans_agrees_with_the_torch_backend(backend: str, torch_embedder, request) -> None:
    onnx = request.getfixturevalue(backend)
    texts = [text for text in TEXTS if text]
    spans = [sentence_spans(text) for text in texts]
    ref_vectors, ref_spans = torch_embedder.encode_spans(texts, spans)
    vectors, per_text = onnx.encode_spans(texts, spans)
    floor = 0.99999 if backend == "onnx_fp32" else 0.96
    assert cosines(vectors, ref_vectors).min() > floor
    for mine, theirs in zip(per_text, ref_spans):
        assert mine.shape == theirs.shape
        assert cosines(mine, theirs).min() > floor


def test_backend_is_chosen_by_settings_and_environment(model_dir: Path, tmp_path: Path) -> None:
    settings = settings_from_env({"QA_BACKEND": "onnx", "QA_CACHE_DIR": str(tmp_path)})
    assert (settings.backend, settings.cache_dir) == ("onnx", tmp_path)
    assert make_embedder(settings).backend == "onnx"
    assert make_embedder(Settings(index_dir=tmp_path / "none", cache_dir=tmp_path)).backend == DEFAULT_BACKEND
    assert isinstance(make_embedder(Settings(), "torch"), SentenceTransformerEmbedder)
    assert not list(tmp_path.iterdir())  # nothing exported before the first encode


def test_an_existing_index_keeps_its_backend(seed_index, tmp_path: Path) -> None:
    """An index built with torch: without --backend, indexing and asking stay with torch."""
    from qa.embed.backends import resolve_backend

    manifest = json.loads((seed_index.index_dir / "manifest.json").read_text(encoding="utf-8"))
    torch_dir = tmp_path / "torch-index"
    torch_dir.mkdir()
    (torch_dir / "manifest.json").write_text(json.dumps({**manifest, "backend": "torch"}), encoding="utf-8")
    torch_index = seed_index.with_(index_dir=torch_dir)
    assert resolve_backend(seed_index) == "onnx-int8"  # the session's index: the default backend
    assert resolve_backend(torch_index) == "torch"
    assert resolve_backend(torch_index.with_(backend="onnx-int8")) == "onnx-int8"
    assert resolve_backend(seed_index.with_(index_dir=tmp_path / "none")) == DEFAULT_BACKEND
    with pytest.raises(ConfigError, match="choose one of torch, onnx, onnx-int8"):
        settings_from_env({"QA_BACKEND": "tensorflow"})


def test_the_index_names_its_backend() -> None:
    manifest = Manifest(model="m", model_fingerprint="abc", dim=384, chunking={})
    assert index_backend(manifest) == "torch"  # indexes from before the backend was recorded
    assert index_backend(Manifest(model="m", model_fingerprint="abc-int8", dim=384, chunking={})) == "onnx-int8"
    manifest = replace(manifest, backend="onnx")
    assert index_backend(manifest) == "onnx"


@pytest.mark.slow  # a fresh ONNX export, or torch
def test_onnx_needs_no_torch_at_query_time(onnx_int8: OnnxEmbedder, cache_dir: Path) -> None:
    """Once exported, a fresh process encodes with onnxruntime and tokenizers alone."""
    import subprocess
    import sys

    onnx_int8.encode(["export first"])
    code = (
        "import sys\nfrom pathlib import Path\nfrom qa.config import packaged_model_dir\n"
        "from qa.embed.onnx_backend import OnnxEmbedder\n"
        f"e = OnnxEmbedder(packaged_model_dir(), quantized=True, cache_dir=Path({str(cache_dir)!r}))\n"
        "print(e.encode(['hello']).shape)\n"
        "print(sorted(m for m in ('torch', 'transformers', 'sentence_transformers') if m in sys.modules))"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env).stdout
    assert out.split("\n")[:2] == ["(1, 384)", "[]"]

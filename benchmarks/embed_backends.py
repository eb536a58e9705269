"""Throughput and agreement of the embedding backends and int8 recipes, on real passages.

    python benchmarks/embed_backends.py [--corpus /tmp/bbc/bbc] [--n 256] [--variants all]

Passages: the first N chunks (embedded text: title + chunk, as the index embeds them) of a
sample of BBC News articles, chunked exactly as `qa index` does. For each variant: passages/s
encoding them all (after a warm-up), single-query latency (p50 over short questions), and the
cosine of each passage's vector to the fp32 sentence-transformers reference (mean, min).

Variants (``--variants`` takes a comma list):
  torch              sentence-transformers, fp32 (the reference)
  onnx               torch.onnx.export, fp32, ONNX Runtime (graph optimisation ALL)
  int8-default       quantize_dynamic defaults: per-tensor, every supported op type
  int8-pc-rr         per_channel=True, reduce_range=True, every supported op type
  int8-pc-rr-matmul  per_channel=True, reduce_range=True, MatMul only (qa's onnx-int8)
  int8-pc-matmul     per_channel=True, reduce_range=False, MatMul only
  int8-intra2        as int8-pc-rr-matmul, but one run at a time on two intra-op threads (the
                     usual setting) instead of one one-thread run per core (qa's)
  int8-nosort        as int8-pc-rr-matmul, texts in corpus order (how much length-sorting buys)
  fused              fp32 after ONNX Runtime's transformer optimiser (fused attention, GELU, LayerNorm)
  fused-int8-*       that graph quantised: pc-matmul as above; pc and pc-rr also quantise Attention

Quantised models are written to a temporary folder, nothing is cached. Speed is measured,
never asserted; on a busy machine the figures are indicative only.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

VARIANTS = ("torch", "onnx", "int8-default", "int8-pc-rr", "int8-pc-rr-matmul", "int8-pc-matmul",
            "int8-intra2", "int8-nosort", "fused", "fused-int8-pc-matmul", "fused-int8-pc", "fused-int8-pc-rr")
RECIPES = {  # variant -> quantize() options
    "int8-default": {"per_channel": False, "reduce_range": False, "op_types": None},
    "int8-pc-rr": {"per_channel": True, "reduce_range": True, "op_types": None},
    "int8-pc-rr-matmul": {"per_channel": True, "reduce_range": True, "op_types": ("MatMul",)},
    "int8-pc-matmul": {"per_channel": True, "reduce_range": False, "op_types": ("MatMul",)},
    "fused-int8-pc-matmul": {"per_channel": True, "reduce_range": False, "op_types": ("MatMul",)},
    "fused-int8-pc": {"per_channel": True, "reduce_range": False, "op_types": None},
    "fused-int8-pc-rr": {"per_channel": True, "reduce_range": True, "op_types": None},
}
QUERIES = [
    "Who won the Australian Open?", "What did the Bank of England decide about interest rates?",
    "Which film won the Oscar for best picture?", "How many jobs will be cut?",
    "What is Gordon Brown's plan for the budget?", "Who is the chief executive of Yukos?",
    "When will the new games console be released?", "What did Tony Blair say about the election?",
]


def passages(corpus: Path, n: int) -> list[str]:
    """The embedded text of N chunks, taken round-robin over the categories (seeded order)."""
    from qa.config import ChunkSettings, packaged_model_dir
    from qa.ingest.chunk import Chunker, TokenCounter
    from qa.ingest.corpus import read_corpus

    folders = sorted(p for p in corpus.iterdir() if p.is_dir())
    articles = sorted(read_corpus(folders).articles, key=lambda a: a.id)
    rng = np.random.default_rng(0)
    rng.shuffle(articles)
    chunker = Chunker(TokenCounter(packaged_model_dir()), ChunkSettings())
    texts: list[str] = []
    for article in articles:
        texts.extend(chunker.embedded(article, chunk) for chunk in chunker.chunk(article))
        if len(texts) >= n:
            break
    return texts[:n]


def timed_encode(embedder, texts: list[str]) -> tuple[np.ndarray, float, float]:
    """(vectors, wall seconds, CPU seconds of this process). CPU time is the steadier figure
    on a shared machine: other processes stretch the wall clock, not the work done."""
    embedder.encode(texts[:8])  # warm-up: session creation, first-run allocations
    cpu = time.process_time()
    started = time.perf_counter()
    vectors = embedder.encode(texts)
    return vectors, time.perf_counter() - started, time.process_time() - cpu


def query_latency(embedder) -> float:
    times = []
    for question in QUERIES * 3:
        started = time.perf_counter()
        embedder.encode([question])
        times.append(time.perf_counter() - started)
    return float(np.percentile(times, 50))


def fuse(source: Path, target: Path, model_dir: Path) -> None:
    """ONNX Runtime's transformer optimiser: embedding + LayerNorm, attention, bias + GELU and
    skip + LayerNorm each become one fused operator. Done offline because the runtime's own
    fusions no longer match once MatMuls are quantised."""
    import json

    from onnxruntime.transformers import optimizer

    config = json.loads((Path(model_dir) / "config.json").read_text())
    model = optimizer.optimize_model(
        str(source), model_type="bert", num_heads=int(config["num_attention_heads"]),
        hidden_size=int(config["hidden_size"]), opt_level=1,
    )
    model.save_model_to_file(str(target))


def recipe_embedder(path: Path, *, sort: bool, **options):
    """qa's ONNX embedder running the ONNX file at ``path`` (a recipe under test) instead of
    the cached export, its batches in length order or (``sort=False``, to measure what sorting
    buys) in the order given."""
    from qa.embed.onnx_backend import OnnxEmbedder, OnnxEncoder

    class UnsortedEncoder(OnnxEncoder):
        def batches(self, texts):
            encodings = self.tokenizer.encode_batch(list(texts))
            for first in range(0, len(texts), self.batch_size):
                positions = list(range(first, min(first + self.batch_size, len(texts))))
                yield positions, [encodings[i] for i in positions]

    class RecipeEmbedder(OnnxEmbedder):
        def model_file(self) -> Path:
            return path

        @property
        def encoder(self):
            encoder = OnnxEmbedder.encoder.fget(self)
            if not sort and not isinstance(encoder, UnsortedEncoder):
                encoder.__class__ = UnsortedEncoder
            return encoder

    return RecipeEmbedder(**options)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, default=Path("/tmp/bbc/bbc"), help="the unpacked BBC folder")
    parser.add_argument("--n", type=int, default=256, help="passages to encode (default 256)")
    parser.add_argument("--variants", default="all", help=f"comma list of {', '.join(VARIANTS)}, or all")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    chosen = VARIANTS if args.variants == "all" else tuple(args.variants.split(","))
    unknown = set(chosen) - set(VARIANTS)
    if unknown:
        parser.error(f"unknown variants {sorted(unknown)}: choose from {', '.join(VARIANTS)}")

    from qa.config import packaged_model_dir
    from qa.embed.export import cpu_count, ensure_onnx_model, quantize
    from qa.embed.model import model_fingerprint
    from qa.embed.torch_backend import SentenceTransformerEmbedder
    from qa.ingest.chunk import TokenCounter

    model_dir = packaged_model_dir()
    texts = passages(args.corpus, args.n)
    tokens = TokenCounter(model_dir).count(texts)
    print(f"{len(texts)} passages, {np.mean(tokens):.0f} word pieces on average (min {min(tokens)},"
          f" max {max(tokens)}); {cpu_count()} cores", file=sys.stderr)
    reference = SentenceTransformerEmbedder(model_dir)
    ref_vectors, ref_seconds, ref_cpu = timed_encode(reference, texts)
    rows = []
    with tempfile.TemporaryDirectory(prefix="qa-embed-bench-") as scratch:
        fp32 = ensure_onnx_model(model_dir, Path(scratch), model_fingerprint(model_dir), quantized=False)
        for variant in chosen:
            if variant == "torch":
                embedder, vectors, seconds, cpu = reference, ref_vectors, ref_seconds, ref_cpu
            else:
                recipe = "int8-pc-rr-matmul" if variant in ("int8-nosort", "int8-intra2") else variant
                path = fp32
                if recipe.startswith("fused"):
                    path = Path(scratch) / "fused.onnx"
                    if not path.is_file():
                        fuse(fp32, path, model_dir)
                if recipe in RECIPES:
                    path = Path(scratch) / f"{recipe}.onnx"
                    if not path.is_file():
                        source = Path(scratch) / "fused.onnx" if recipe.startswith("fused") else fp32
                        quantize(source, path, **RECIPES[recipe])
                embedder = recipe_embedder(
                    path, sort=variant != "int8-nosort", model_dir=model_dir, quantized=recipe in RECIPES,
                    cache_dir=Path(scratch), threads=2 if variant == "int8-intra2" else 1,
                    workers=1 if variant == "int8-intra2" else None,
                )
                vectors, seconds, cpu = timed_encode(embedder, texts)
            cosines = np.sum(vectors * ref_vectors, axis=1)
            rows.append({
                "variant": variant, "passages_per_s": round(len(texts) / seconds, 1),
                "cpu_ms_per_passage": round(cpu / len(texts) * 1000, 1),
                "query_ms_p50": round(query_latency(embedder) * 1000, 2),
                "cos_mean": round(float(cosines.mean()), 5), "cos_min": round(float(cosines.min()), 5),
            })
            print(json.dumps(rows[-1]), file=sys.stderr)
    if args.json:
        print(json.dumps({"passages": len(texts), "mean_tokens": float(np.mean(tokens)), "rows": rows}))
        return
    print("\n| variant | passages/s | CPU ms per passage | query p50 (ms) | cosine to fp32 mean | min |")
    print("|---|---:|---:|---:|---:|---:|")
    for row in rows:
        print(f"| {row['variant']} | {row['passages_per_s']} | {row['cpu_ms_per_passage']} | {row['query_ms_p50']}"
              f" | {row['cos_mean']:.5f}"
              f" | {row['cos_min']:.5f} |")


if __name__ == "__main__":
    main()


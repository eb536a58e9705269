"""Parsing, chunking and embedding on a Ray cluster, as Ray Data pipelines.

``qa index --engine ray [--ray-address ADDR]`` runs ingestion in two stages, with the
incremental diff between them on the driver:

1. **Parse.** The driver lists the corpus files (:func:`qa.ingest.corpus.list_corpus`: sorted walk,
   hidden names skipped, links to folders refused) and reads each one's bytes
   (:func:`qa.ingest.corpus.load_file`: type, regular file and size limit checked first); Ray tasks
   (:func:`parse_batch`) turn the bytes into articles (:func:`qa.ingest.corpus.parse_file`: decoding,
   HTML and PDF extraction, JSONL lines, content hashes, the length limit) and refusals. The
   bytes travel with the job, so the nodes need no view of the driver's files. The driver merges
   the results in file order (:func:`qa.ingest.corpus.merge_files`: duplicates), so the articles and the
   report are :func:`qa.ingest.corpus.read_corpus`'s.
2. **Chunk and embed.** The indexer compares content hashes with the manifest as always, and
   only new and changed articles go back to the cluster. There ``map_batches`` runs
   :class:`ChunkEmbedActor` on a pool of actors, each holding one chunker and one encoder (the
   model is loaded once per actor, not once per batch); a batch is a few articles, enough chunks
   for the encoder's own batches to stay full. The result comes back as chunk records
   (qa.indexing.faiss_store's JSONL form), their vectors and their sentences' vectors, and the indexer stores it
   exactly as the local engine's: same chunks, vectors equal up to float rounding of other batch
   shapes (the tests hold them to 1e-5 per component, cosine 1 - 1e-6).

Without an address (and no ``RAY_ADDRESS``), a local Ray instance is started, listening on
127.0.0.1 only, with no dashboard and usage statistics off; it stops when the engine closes. With one, the engine
connects to that cluster, whose nodes need qa's dependencies and the model (the packaged
all-MiniLM-L6-v2 is found by package there; a ``--model`` directory must exist at the same path);
qa's own code is shipped with the job, so the cluster runs the driver's qa.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from qa.config import IngestLimits, Settings, prepare_ray, ray_address
from qa.errors import ConfigError
from qa.indexing.engine import Sentences
from qa.indexing.protocol import require
from qa.ingest.corpus import Corpus, ParsedFile, list_corpus, load_file, merge_files
from qa.ingest.readers import UnreadableError
from qa.types import Article, Chunk, Rejected

if TYPE_CHECKING:
    from qa.embed.protocol import Embedder

LOOPBACK = ("127.0.0.1", "localhost")
ARTICLES_PER_BATCH = 16  # ~60 chunks of news: several full encoder batches of 32 per call
FILES_PER_BATCH = 32  # one parse task: ~100 kB of news, a few hundred ms of HTML extraction
BLOCK_BYTES = 16_000_000  # and at most about this much (a few PDFs): more, smaller tasks
BYTES_PER_PASS = 256_000_000  # file bytes held by the driver and the object store at once


def parse_batch(batch: dict[str, np.ndarray], limits: dict[str, Any]) -> dict[str, np.ndarray]:
    """The parse stage: each file's bytes to its articles and refusals, as JSON (ASCII, so a file
    name that is not valid UTF-8, kept by Python as surrogates, survives Arrow's strings)."""
    from qa.ingest.corpus import parse_file

    bounds = IngestLimits(**limits)
    parsed = []
    for file_id, data in zip(batch["id"], batch["data"]):
        result = parse_file(bytes(data), json.loads(file_id), bounds)
        parsed.append(json.dumps({
            "articles": [asdict(article) for article in result.articles],
            "rejected": [[rejected.path, rejected.reason] for rejected in result.rejected],
            "warnings": [[warning.path, warning.reason] for warning in result.warnings],
        }))
    return {"position": batch["position"], "parsed": np.array(parsed, dtype=object)}


def parsed_from_json(text: str) -> ParsedFile:
    fields = json.loads(text)
    return ParsedFile(
        tuple(Article(**article) for article in fields["articles"]),
        tuple(Rejected(path, reason) for path, reason in fields["rejected"]),
        tuple(Rejected(path, reason) for path, reason in fields.get("warnings", ())),
    )


class ChunkEmbedActor:
    """One Ray actor: a chunker and an encoder, loaded once, applied to batches of articles."""

    def __init__(self, settings: dict[str, Any], fingerprint: str, threads: int) -> None:
        from qa.config import ChunkSettings
        from qa.embed.onnx_backend import OnnxEmbedder
        from qa.embed.torch_backend import SentenceTransformerEmbedder
        from qa.ingest.chunk import Chunker, TokenCounter

        model_dir = Path(settings["model_dir"]) if settings["model_dir"] else Settings().resolved_model_dir()
        # The driver's backend; one actor per CPU it was given: no oversubscription.
        if settings["backend"] == "torch":
            import torch

            torch.set_num_threads(threads)
            self.embedder: Embedder = SentenceTransformerEmbedder(model_dir, settings["batch_size"])
        else:
            self.embedder = OnnxEmbedder(
                model_dir, quantized=settings["backend"] == "onnx-int8", cache_dir=Path(settings["cache_dir"]),
                batch_size=settings["batch_size"], threads=threads, workers=1,
            )
        if self.embedder.fingerprint != fingerprint:
            raise ConfigError(
                f"the model at {model_dir} on this Ray node ({self.embedder.fingerprint}) is not the"
                f" driver's ({fingerprint}): install the same model on every node"
            )
        self.chunker = Chunker(TokenCounter(model_dir), ChunkSettings(**settings["chunking"]))

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        from qa.indexing.engine import embedded_texts
        from qa.indexing.ray_engine import chunk_record

        positions, records, texts, spans = [], [], [], []
        for position, fields in zip(batch["position"], batch["article"]):
            article = Article(**json.loads(fields))
            chunks = self.chunker.chunk(article)
            article_texts, article_spans = embedded_texts(self.chunker, article, chunks)
            positions += [int(position)] * len(chunks)
            records += [json.dumps(chunk_record(chunk, 0)) for chunk in chunks]
            texts += article_texts
            spans += article_spans
        vectors, sentences = self.embedder.encode_spans(texts, spans)
        return {
            "position": np.array(positions, dtype=np.int64),
            "chunk": np.array(records, dtype=object),
            "vector": vectors,
            # a chunk's sentence vectors, float32 bytes: a ragged column Arrow carries as binary
            "sentences": np.array([np.asarray(rows, np.float32).tobytes() for rows in sentences], dtype=object),
        }


class RayEngine:
    """The :class:`qa.indexing.engine.Engine` that runs on Ray; see the module docstring."""

    def __init__(
        self,
        settings: Settings,
        embedder: Embedder,
        *,
        address: str | None = None,
        cpus_per_actor: int = 1,
        articles_per_batch: int = ARTICLES_PER_BATCH,
        files_per_batch: int = FILES_PER_BATCH,
        bytes_per_pass: int = BYTES_PER_PASS,
        temp_dir: Path | None = None,
    ) -> None:
        if cpus_per_actor < 1 or articles_per_batch < 1 or files_per_batch < 1 or bytes_per_pass < 1:
            raise ConfigError("--engine ray needs at least one CPU per actor, one article and one file per"
                              " batch and one byte per pass")
        self.settings = settings
        # The actors build the driver's embedder: the same model (checked by fingerprint) on
        # the same backend; an ONNX export is made once, here, before any actor needs it.
        self.fingerprint = embedder.fingerprint
        self.backend = embedder.backend or "torch"
        if self.backend != "torch":
            from qa.embed.export import ensure_onnx_model

            ensure_onnx_model(
                settings.resolved_model_dir(), settings.cache_dir, embedder.base_fingerprint,
                quantized=self.backend == "onnx-int8",
            )
        self.address = address
        self.cpus_per_actor = cpus_per_actor
        self.articles_per_batch = articles_per_batch
        self.files_per_batch = files_per_batch
        self.bytes_per_pass = bytes_per_pass
        self.temp_dir = temp_dir
        self.actors = 0  # the size of the last run's actor pool
        self._ray: Any = None

    def _start(self) -> Any:
        if self._ray is not None:
            return self._ray
        # a local instance and a local cluster listen on 127.0.0.1 only
        address = ray_address(self.address)
        prepare_ray(loopback=address is None or address.rpartition(":")[0] in LOOPBACK)
        ray = require("ray", "ray", "--engine ray")
        require("ray.data", "ray", "--engine ray")
        import qa

        options: dict[str, Any] = {
            "include_dashboard": False,
            "log_to_driver": False,
            "configure_logging": False,
            "runtime_env": {"py_modules": [str(Path(qa.__file__).parent)], "env_vars": {"HF_HUB_OFFLINE": "1",
                            "TRANSFORMERS_OFFLINE": "1", "RAY_USAGE_STATS_ENABLED": "0"}},
        }
        if address is None:
            options["_node_ip_address"] = "127.0.0.1"
            if self.temp_dir is not None:
                options["_temp_dir"] = str(self.temp_dir)
        try:
            ray.init(address=self.address, **options)
        except (ConnectionError, RuntimeError, ValueError) as error:
            raise ConfigError(
                f"cannot start or reach Ray at {ray_address(self.address) or 'a local instance'}"
                f" ({error}): check --ray-address / RAY_ADDRESS, or drop it to run Ray on this machine"
            ) from None
        self._ray = ray
        return ray

    def _pipeline(self, progress: bool) -> Any:
        """Ray, started, with Ray Data set to keep the input's order and show progress or not."""
        ray = self._start()
        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = progress
        context.execution_options.preserve_order = True
        return ray

    def read_corpus(
        self, roots: Iterable[Path], limits: IngestLimits, *, progress: bool = False,
        owners: Mapping[str, str] | None = None,
    ) -> Corpus:
        """The corpus as :func:`qa.ingest.corpus.read_corpus` reads it, parsed on the cluster (stage 1 of
        the module docstring). The driver reads the files' bytes a pass of ``BYTES_PER_PASS`` at a
        time, so its memory holds one pass of bytes (and, as locally, the parsed articles)."""
        files, rejected = list_corpus(roots)
        parsed: list[ParsedFile] = []
        for window in self._passes(files, limits):
            parsed += self._parse(window, limits, progress)
        return merge_files(rejected, parsed, owners)

    def _passes(
        self, files: Iterable[tuple[Path, str]], limits: IngestLimits
    ) -> Iterator[list[tuple[str, bytes | ParsedFile]]]:
        """The files in passes of about ``bytes_per_pass``: (id, bytes) for a file to parse,
        (id, ParsedFile) for one refused here (its type, size, or reading it)."""
        window: list[tuple[str, bytes | ParsedFile]] = []
        size = 0
        for path, file_id in files:
            try:
                data = load_file(path, file_id, limits)
            except UnreadableError as error:
                window.append((file_id, ParsedFile(rejected=(Rejected(file_id, str(error)),))))
                continue
            window.append((file_id, data))
            size += len(data)
            if size >= self.bytes_per_pass:
                yield window
                window, size = [], 0
        if window:
            yield window

    def _parse(
        self, window: list[tuple[str, bytes | ParsedFile]], limits: IngestLimits, progress: bool
    ) -> list[ParsedFile]:
        """One pass through the parse stage: every file of the window, parsed, in its order."""
        results: list[Any] = [loaded for _, loaded in window]  # the bytes are replaced below
        items: list[dict[str, Any]] = [{"position": i, "id": json.dumps(file_id), "data": data}
                 for i, (file_id, data) in enumerate(window) if isinstance(data, bytes)]
        if not items:
            return results
        ray = self._pipeline(progress)
        size = sum(len(item["data"]) for item in items)
        blocks = min(len(items), max(-(-len(items) // self.files_per_batch), -(-size // BLOCK_BYTES)))
        dataset = ray.data.from_items(items, override_num_blocks=blocks).map_batches(
            parse_batch, fn_kwargs={"limits": asdict(limits)}, batch_size=None, batch_format="numpy",
            num_cpus=1,
        )
        for batch in dataset.iter_batches(batch_format="numpy", batch_size=None):
            for position, parsed in zip(batch["position"], batch["parsed"]):
                results[int(position)] = parsed_from_json(parsed)
        return results

    def chunk_and_embed(
        self, articles: Sequence[Article], *, progress: bool = False
    ) -> tuple[dict[str, list[Chunk]], np.ndarray, Sentences]:
        from qa.embed.torch_backend import SentenceTransformerEmbedder
        from qa.indexing.ray_engine import chunk_from_record

        dim = SentenceTransformerEmbedder(self.settings.resolved_model_dir()).dim
        if not articles:
            return {}, np.zeros((0, dim), dtype=np.float32), []
        ray = self._pipeline(progress)
        cpus = int(ray.cluster_resources().get("CPU", 1))
        batches = -(-len(articles) // self.articles_per_batch)
        self.actors = max(1, min(cpus // self.cpus_per_actor, batches))
        items = [{"position": i, "article": json.dumps(asdict(a), ensure_ascii=False)} for i, a in enumerate(articles)]
        settings = {
            "model_dir": str(self.settings.model_dir) if self.settings.model_dir else None,
            "batch_size": self.settings.batch_size,
            "chunking": self.settings.chunking.to_json(),
            "backend": self.backend,
            "cache_dir": str(self.settings.cache_dir),
        }
        dataset = ray.data.from_items(items, override_num_blocks=batches).map_batches(
            ChunkEmbedActor,
            fn_constructor_kwargs={"settings": settings, "fingerprint": self.fingerprint,
                                   "threads": self.cpus_per_actor},
            batch_size=self.articles_per_batch,
            batch_format="numpy",
            compute=ray.data.ActorPoolStrategy(size=self.actors),
            num_cpus=self.cpus_per_actor,
        )
        positions: list[int] = []
        records: list[Any] = []
        pieces: list[Any] = []
        sentences: list[Any] = []
        for batch in dataset.iter_batches(batch_format="numpy", batch_size=None):
            positions.extend(int(p) for p in batch["position"])
            records.extend(json.loads(r) for r in batch["chunk"])
            pieces.append(np.asarray(batch["vector"], dtype=np.float32).reshape(len(batch["position"]), dim))
            sentences.extend(np.frombuffer(rows, dtype=np.float32).reshape(-1, dim) for rows in batch["sentences"])
        by_id = {article.id: article for article in articles}
        order = sorted(range(len(records)), key=lambda i: (positions[i], records[i]["n"]))
        chunks: dict[str, list[Chunk]] = {article.id: [] for article in articles}
        for i in order:
            chunk = chunk_from_record(records[i], by_id)
            chunks[chunk.article_id].append(chunk)
        vectors = np.concatenate(pieces)[order] if pieces else np.zeros((0, dim), dtype=np.float32)
        return chunks, np.ascontiguousarray(vectors), [sentences[i] for i in order]

    def close(self) -> None:
        """Disconnect from the cluster (and stop the local instance, if this engine started it)."""
        if self._ray is not None:
            self._ray.shutdown()
            self._ray = None


def chunk_record(chunk: Chunk, faiss_id: int) -> dict[str, Any]:
    """A chunk as a JSON object (how qa.indexing.ray_engine's workers send chunks back)."""
    return {
        "id": faiss_id,
        "chunk_id": chunk.id,
        "article_id": chunk.article_id,
        "n": chunk.n,
        "start": chunk.start,
        "end": chunk.end,
        "sentences": [list(span) for span in chunk.sentences],
    }


def chunk_from_record(record: dict[str, Any], articles: dict[str, Article]) -> Chunk:
    text = articles[record["article_id"]].text
    start, end = int(record["start"]), int(record["end"])
    return Chunk(
        id=record["chunk_id"],
        article_id=record["article_id"],
        n=int(record["n"]),
        start=start,
        end=end,
        text=text[start:end],
        sentences=tuple((int(s), int(e)) for s, e in record["sentences"]),
    )

"""What a sentence-transformers model directory says about itself (name, fingerprint, dimension,
window), read from its files so that asking loads no model. Chunking and every backend use it."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path


def model_fingerprint(model_dir: Path) -> str:
    """Identifies a model's weights and configuration without hashing hundreds of MB:
    the configuration files' contents and the weight files' names and sizes."""
    digest = hashlib.sha256()
    for path in sorted(model_dir.rglob("*")):
        if not path.is_file() or path.name.startswith("."):
            continue
        relative = path.relative_to(model_dir).as_posix()
        digest.update(relative.encode())
        if path.suffix == ".json":
            digest.update(path.read_bytes())
        else:
            digest.update(str(path.stat().st_size).encode())
    return digest.hexdigest()[:16]


def model_name(model_dir: Path) -> str:
    """The model's own name where its README says it, else the directory name."""
    config = model_dir / "config_sentence_transformers.json"
    readme = model_dir / "README.md"
    if readme.is_file():
        for line in readme.read_text(errors="replace").splitlines():
            if line.startswith("# "):
                return line[2:].strip()
    if config.is_file() and model_dir.name == "model":
        return model_dir.parent.name
    return model_dir.name


def model_dim(model_dir: Path) -> int | None:
    """The embedding dimension from the pooling config, so asking it loads no model."""
    pooling = Path(model_dir) / "1_Pooling" / "config.json"
    if pooling.is_file():
        return json.loads(pooling.read_text()).get("word_embedding_dimension")
    return None


def model_window(model_dir: Path) -> int:
    """The model's ``max_seq_length``, from sentence_bert_config.json (512 if it says nothing)."""
    config = model_dir / "sentence_bert_config.json"
    if config.is_file():
        value = json.loads(config.read_text()).get("max_seq_length")
        if value:
            return int(value)
    return 512

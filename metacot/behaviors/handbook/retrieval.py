"""Retrieve a problem's behaviours from a handbook: by its features, by topic, by its own id, or the top K by
embedding similarity to its prompt and features."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Collection, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from metacot.behaviors.handbook.entries import Entry, unit_rows
from metacot.conditioning import BehaviorsConfig

Embed = Callable[[list[str]], np.ndarray]
# A problem's topic: the first of these fields it has (MATH's `type` or `subject`), else its domain's name.
TOPIC_FIELDS = ("topic", "type", "subject")


class RetrievalError(ValueError):
    """Nothing to retrieve: an empty handbook, or a topic no behaviour is tagged with."""


def problem_topic(problem: dict, domain: str) -> str:
    """The topic a problem is retrieved by: its first TOPIC_FIELDS value, else the domain's name; lower case."""
    value = next((problem[f] for f in TOPIC_FIELDS if isinstance(problem.get(f), str) and problem[f].strip()), domain)
    return value.strip().lower()


def _require(entries: list[Entry]) -> None:
    if not entries:
        raise RetrievalError("the handbook is empty: there are no behaviours to retrieve")


def by_topic(entries: list[Entry], topic: str, k: int) -> list[Entry]:
    """The k behaviours tagged `topic` that were distilled most often (file order breaks ties)."""
    return by_features(entries, set(), topic, k)


def by_features(entries: list[Entry], features: Collection[str], topic: str, k: int) -> list[Entry]:
    """The k behaviours tagged with most of the problem's features (Domain.features: what its numbers and target
    offer), then those tagged with its topic alone; among equals the most often distilled, then file order. A
    handbook tagged by topic alone gives what by_topic gives."""
    _require(entries)
    topic = topic.lower()
    scored = [(len(set(features) & set(e.tags)), topic in e.tags, e) for e in entries]
    found = [row for row in scored if row[0] or row[1]]
    if not found:
        tags = sorted({t for e in entries for t in e.tags})
        raise RetrievalError(f"no behaviour is tagged {topic!r}; the handbook's tags: {', '.join(tags) or '(none)'}")
    found.sort(key=lambda row: (-row[0], -row[1], -row[2].count))
    return [entry for _, _, entry in found[:k]]


def by_problem(entries: list[Entry], problem_id: str, k: int) -> list[Entry]:
    """The k behaviours distilled from this problem (its id in their provenance), most often distilled first; none
    when its reflection gave none (self-improvement: the problem is searched again unconditioned)."""
    own = [e for e in entries if problem_id in e.provenance.problem_ids]
    return sorted(own, key=lambda e: -e.count)[:k]


def top_k(scores: np.ndarray, k: int) -> list[int]:
    """The indices of the k highest scores, highest first; equal scores in index order (exact, no index)."""
    return [int(i) for i in np.argsort(-np.asarray(scores), kind="stable")[:k]]


FAISS_FROM = 20_000  # handbooks at least this large are searched with FAISS when it is installed (exact, faster)


def by_embedding(
    entries: list[Entry], queries: list[str], k: int, embed: Embed, faiss_from: int = FAISS_FROM
) -> list[list[Entry]]:
    """For each query, the k behaviours whose lines are most similar to it (cosine), most similar first."""
    _require(entries)
    vectors = unit_rows(embed([e.line for e in entries] + queries))
    behaviours, asked = vectors[: len(entries)], vectors[len(entries) :]
    found = faiss_top_k(behaviours, asked, k) if len(entries) >= faiss_from else None
    if found is None:
        found = [top_k(behaviours @ query, k) for query in asked]
    return [[entries[i] for i in row] for row in found]


def faiss_top_k(behaviours: np.ndarray, asked: np.ndarray, k: int) -> list[list[int]] | None:
    """Exact inner-product top-k with a FAISS flat index (BLAS over all rows at once); None without faiss."""
    try:
        import faiss
    except ImportError:
        return None
    index = faiss.IndexFlatIP(behaviours.shape[1])
    index.add(np.ascontiguousarray(behaviours, dtype=np.float32))
    _, found = index.search(np.ascontiguousarray(asked, dtype=np.float32), min(k, len(behaviours)))
    return [[int(i) for i in row if i >= 0] for row in found]


def tfidf_embedder(corpus: list[str]) -> Embed:
    """TF-IDF vectors (scikit-learn) over the words of `corpus`, the handbook's lines: needs no model."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    vectorizer = TfidfVectorizer(token_pattern=r"(?u)[^\W_]+", stop_words="english", sublinear_tf=True).fit(corpus)
    return lambda texts: vectorizer.transform(texts).toarray()


def sentence_transformers_embedder(folder: str) -> Embed:
    """A sentence-transformers model from a local folder (never fetched from a hub)."""
    if not folder or not Path(folder, "modules.json").is_file():
        raise ValueError(
            f"behaviors.embedder_model: {folder!r} is not a local sentence-transformers folder (no modules.json)"
        )
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(folder, device="cpu", local_files_only=True)
    return lambda texts: np.asarray(model.encode(texts, convert_to_numpy=True))


def openai_embedder(config: BehaviorsConfig) -> Embed:
    """An OpenAI-compatible server's /v1/embeddings, all texts in one request (retried as the policies' are)."""
    from metacot.backends.server import Server

    if not config.embedder_model:
        raise ValueError("behaviors.embedder_model: the served embedding model's name is needed for embedder openai")
    server = Server("behaviors", config.base_url, config.api_key_env, 60.0, 3, 0.5)

    def embed(texts: list[str]) -> np.ndarray:
        reply: Any = server.call(lambda client: client.embeddings.create(model=config.embedder_model, input=texts))
        rows = sorted(reply.data, key=lambda item: item.index)
        if len(rows) != len(texts):
            raise RuntimeError(f"behaviors: the server sent {len(rows)} embeddings for {len(texts)} texts")
        return np.asarray([row.embedding for row in rows], dtype=np.float64)

    return embed


def make_embedder(config: BehaviorsConfig, entries: list[Entry]) -> Embed:
    if config.embedder == "sentence-transformers":
        return sentence_transformers_embedder(config.embedder_model)
    if config.embedder == "openai":
        return openai_embedder(config)
    return tfidf_embedder([e.line for e in entries])


def retrieve(
    entries: list[Entry],
    problems: list[dict],
    queries: list[str],
    domain: str,
    config: BehaviorsConfig,
    features: Sequence[Collection[str]] | None = None,
) -> list[list[Entry]]:
    """Each problem's behaviours: by its features (`features`, one collection of tags per problem; none given: by
    topic alone), by its topic, by its own id (those distilled from it), or by its query text's embedding (one
    embedding call for all)."""
    if config.retrieve == "features":
        tags = features if features is not None else [()] * len(problems)
        return [
            by_features(entries, own, problem_topic(p, domain), config.top_k)
            for p, own in zip(problems, tags, strict=True)
        ]
    if config.retrieve == "topic":
        return [by_topic(entries, problem_topic(p, domain), config.top_k) for p in problems]
    if config.retrieve == "problem":
        return [by_problem(entries, str(p.get("id", "")), config.top_k) for p in problems]
    _require(entries)
    return by_embedding(entries, queries, config.top_k, make_embedder(config, entries))


def off_mode_share(rows: list[list[str]]) -> float:
    """The share of problems whose retrieved behaviours (as a set) differ from the most common set: 0.0 when every
    problem gets the same ones."""
    sets = Counter(frozenset(row) for row in rows)
    return 1 - sets.most_common(1)[0][1] / len(rows) if rows else 0.0

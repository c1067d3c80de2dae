"""The behaviour handbook file: load, save, merge, the built-in Countdown handbook; retrieval by topic and by
embedding (TF-IDF, a tiny local sentence-transformers model, an OpenAI-compatible /v1/embeddings server)."""

from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler

import numpy as np
import pytest
from fault_server import QuietServer

from metacot.behaviors.handbook.entries import (
    Entry,
    HandbookError,
    Provenance,
    builtin_handbook,
    format_table,
    load_handbook,
    merge,
    normalise_name,
    save_handbook,
)
from metacot.behaviors.handbook.retrieval import (
    BehaviorsConfig,
    RetrievalError,
    by_embedding,
    by_topic,
    problem_topic,
    retrieve,
    tfidf_embedder,
    top_k,
)

ENTRIES = [
    Entry("inclusion_exclusion", "When counting a union, add the sets and subtract their overlaps.", ["counting"]),
    Entry("angle_sum", "The angles of a triangle sum to 180 degrees: find the third from two.", ["geometry"]),
    Entry(
        "systematic_counting", "Count case by case, one digit at a time, so no case is missed.", ["counting"], count=3
    ),
    Entry(
        "pythagoras", "In a right triangle the squares of the legs sum to the square of the hypotenuse.", ["geometry"]
    ),
]


def test_save_then_load_gives_the_same_entries(tmp_path):
    entries = [Entry("a", "do a", ["x"], Provenance(["p1", "p2"], "runs/r", "m"), 2), *ENTRIES]
    path = save_handbook(entries, tmp_path / "sub" / "h.jsonl")
    assert load_handbook(path) == entries


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", "not valid JSON"),
        ('["a"]', "expected a JSON object"),
        ('{"name": "a"}', "field 'instruction'"),
        ('{"name": "a", "instruction": "b", "count": 0}', "field 'count'"),
        ('{"name": "a", "instruction": "b", "tags": "x"}', "field 'tags'"),
        ('{"name": "a", "instruction": "b", "colour": 1}', "unknown field(s) colour"),
        ('{"name": "!!", "instruction": "b"}', "no letters or digits"),
    ],
)
def test_a_malformed_line_names_file_and_line(tmp_path, line, message):
    path = tmp_path / "h.jsonl"
    path.write_text('{"name": "ok", "instruction": "fine"}\n\n' + line + "\n")
    with pytest.raises(HandbookError, match=rf"h\.jsonl:3: .*{re.escape(message)}"):
        load_handbook(path)


def test_names_are_normalised():
    assert normalise_name("behavior_Inclusion-Exclusion ") == "inclusion_exclusion"
    assert normalise_name("Behaviour Angle  Sum") == "angle_sum"


def test_merge_folds_same_names_into_the_first():
    a = Entry("behavior_angle_sum", "first", ["geometry"], Provenance(["p1"], "r1", "m"))
    b = Entry("Angle Sum", "second", ["triangles"], Provenance(["p2", "p1"], "r2", "m"), count=2)
    c = Entry("other", "third", [])
    merged = merge([a, b, c])
    assert [(e.name, e.instruction, e.count) for e in merged] == [
        ("behavior_angle_sum", "first", 3),
        ("other", "third", 1),
    ]
    assert merged[0].tags == ["geometry", "triangles"] and merged[0].provenance.problem_ids == ["p1", "p2"]
    assert a.count == 1  # the inputs are left as they were


def test_merge_by_embedding_folds_near_identical_lines_only():
    near = Entry("triangle_angles", "The angles of a triangle sum to 180 degrees: find the third from two.", [])
    embed = tfidf_embedder([e.line for e in [*ENTRIES, near]])
    merged = merge([*ENTRIES, near], embed=embed, threshold=0.5)
    assert [e.name for e in merged] == [e.name for e in ENTRIES]
    assert merged[1].count == 2
    assert len(merge([*ENTRIES, near], embed=embed, threshold=0.99)) == 5


def test_the_builtin_countdown_handbook_loads_and_is_tagged_countdown():
    entries = load_handbook(builtin_handbook("countdown"))
    assert len(entries) >= 5 and all("countdown" in e.tags for e in entries)
    assert {"target_factorisation", "near_target_subgoal", "finish_with_last_pair"} <= {e.name for e in entries}
    with pytest.raises(ValueError, match="no built-in handbook for domain 'math'"):
        builtin_handbook("math")


def test_the_table_lists_every_entry():
    table = format_table(ENTRIES).splitlines()
    assert table[0].split() == ["name", "count", "tags", "instruction"] and len(table) == 2 + len(ENTRIES)
    assert table[4].startswith("systematic_counting  3")
    assert format_table([]) == "(empty handbook)"


def test_topic_retrieval_takes_the_most_distilled_first_and_explains_unknown_topics():
    assert [e.name for e in by_topic(ENTRIES, "Counting", 5)] == ["systematic_counting", "inclusion_exclusion"]
    assert [e.name for e in by_topic(ENTRIES, "geometry", 1)] == ["angle_sum"]
    with pytest.raises(
        RetrievalError, match="no behaviour is tagged 'algebra'; the handbook's tags: counting, geometry"
    ):
        by_topic(ENTRIES, "algebra", 2)
    with pytest.raises(RetrievalError, match="the handbook is empty"):
        by_topic([], "algebra", 2)


def test_a_problems_topic_is_its_field_else_the_domain():
    assert problem_topic({"type": "Counting & Probability", "subject": "x"}, "math") == "counting & probability"
    assert problem_topic({"numbers": [1], "target": 2}, "countdown") == "countdown"


def test_top_k_is_exact_and_stable():
    assert top_k(np.array([0.1, 0.9, 0.5, 0.9]), 3) == [1, 3, 2]
    assert top_k(np.array([0.2]), 4) == [0]


def test_tfidf_retrieval_finds_the_related_behaviours_in_order():
    embed = tfidf_embedder([e.line for e in ENTRIES])
    found = by_embedding(ENTRIES, ["How many ways to count the digits?", "A right triangle has legs 3 and 4"], 2, embed)
    assert [e.name for e in found[0]] == ["systematic_counting", "inclusion_exclusion"]
    assert found[1][0].name == "pythagoras"
    with pytest.raises(RetrievalError, match="empty"):
        retrieve([], [{}], ["q"], "math", BehaviorsConfig(retrieve="embedding"))


def test_retrieve_by_topic_per_problem():
    config = BehaviorsConfig(top_k=1)
    found = retrieve(ENTRIES, [{"type": "geometry"}, {"subject": "counting"}], ["", ""], "math", config)
    assert [[e.name for e in row] for row in found] == [["angle_sum"], ["systematic_counting"]]


def test_a_tiny_local_sentence_transformers_model_retrieves(tmp_path):
    pytest.importorskip("sentence_transformers")
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Pooling, Transformer
    from tiny_models import build_tokenizer
    from transformers import BertConfig, BertModel

    tokenizer_dir = tmp_path / "tok"
    build_tokenizer(tokenizer_dir)

    config = BertConfig(
        vocab_size=400, hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32
    )
    BertModel(config).save_pretrained(tokenizer_dir)
    word = Transformer(str(tokenizer_dir), max_seq_length=64)
    SentenceTransformer(modules=[word, Pooling(16)], device="cpu").save(str(tmp_path / "st"))
    config = BehaviorsConfig(
        retrieve="embedding", embedder="sentence-transformers", embedder_model=str(tmp_path / "st")
    )
    queries = [ENTRIES[2].line, ENTRIES[0].line]
    found = retrieve(ENTRIES, [{}, {}], queries, "math", config)
    assert [row[0].name for row in found] == ["systematic_counting", "inclusion_exclusion"]  # a line is nearest itself
    with pytest.raises(ValueError, match="not a local sentence-transformers folder"):
        retrieve(ENTRIES, [{}], ["q"], "math", BehaviorsConfig(retrieve="embedding", embedder="sentence-transformers"))


class EmbeddingServer:
    """/v1/embeddings on 127.0.0.1: each text's vector is its counts of the letters a to e (out of order)."""

    def __init__(self):
        self.requests: list[dict] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.requests.append(body)
                rows = [{"object": "embedding", "index": i, "embedding": [t.count(c) for c in "abcde"]}
                        for i, t in enumerate(body["input"])]  # fmt: skip
                data = json.dumps({"object": "list", "data": rows[::-1], "model": body["model"]}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = QuietServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"


def test_the_openai_embeddings_endpoint_retrieves_in_one_request():
    pytest.importorskip("openai")
    server = EmbeddingServer()
    entries = [Entry("aaa", "aaaa", []), Entry("bbb", "bbbb", []), Entry("eee", "eeee", [])]
    config = BehaviorsConfig(
        retrieve="embedding", embedder="openai", embedder_model="emb", base_url=server.url, top_k=2
    )
    found = retrieve(entries, [{}, {}], ["e e e", "b b a"], "x", config)
    assert [[e.name for e in row] for row in found] == [["eee", "aaa"], ["bbb", "aaa"]]
    assert len(server.requests) == 1 and server.requests[0]["model"] == "emb"
    server.server.shutdown()


def test_cli_show_and_merge(tmp_path, capsys):
    from metacot.cli import main

    assert main(["handbook", "show", "builtin"]) == 0
    assert "target_factorisation" in capsys.readouterr().out
    one, two = save_handbook(ENTRIES[:2], tmp_path / "1.jsonl"), save_handbook(ENTRIES, tmp_path / "2.jsonl")
    assert main(["handbook", "merge", str(one), str(two), "--out", str(tmp_path / "m.jsonl")]) == 0
    assert "4 behaviours (2 folded)" in capsys.readouterr().out
    assert [e.count for e in load_handbook(tmp_path / "m.jsonl")] == [2, 2, 3, 1]
    (tmp_path / "bad.jsonl").write_text("{}\n")
    assert main(["handbook", "show", str(tmp_path / "bad.jsonl")]) == 2
    assert "bad.jsonl:1: field 'name'" in capsys.readouterr().err


def test_a_large_handbook_is_searched_with_faiss_and_finds_what_the_exact_search_finds():
    pytest.importorskip("faiss")
    rng = np.random.default_rng(0)
    entries = [Entry(f"b{i}", f"instruction {i}", ["t"]) for i in range(300)]
    vectors = {e.line: rng.normal(size=16) for e in entries}
    queries = [f"query {i}" for i in range(5)]
    vectors.update({q: rng.normal(size=16) for q in queries})
    embed = lambda texts: np.array([vectors[t] for t in texts])  # noqa: E731
    exact = by_embedding(entries, queries, 4, embed, faiss_from=10**9)
    with_faiss = by_embedding(entries, queries, 4, embed, faiss_from=100)
    assert [[e.name for e in row] for row in with_faiss] == [[e.name for e in row] for row in exact]

"""Pooled generation's sampling: the top_p nucleus, and draws from each row's own generator (reproducible, the same
whatever rows share the batch, distributed as asked)."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from metacot.backends.pool import drawn, nucleus  # noqa: E402


def streams(*seeds: int) -> list:
    return [torch.Generator().manual_seed(seed) for seed in seeds]


def test_the_nucleus_is_the_fewest_likeliest_tokens_holding_top_p():
    probabilities = torch.tensor([[0.05, 0.5, 0.15, 0.3]])

    def kept(top_p: float) -> list[int]:
        held = nucleus(probabilities, top_p)
        assert torch.equal(held[held > 0], probabilities[held > 0])  # kept as they were
        return (held[0] > 0).nonzero()[:, 0].tolist()

    assert kept(0.8) == [1, 3] and kept(0.81) == [1, 2, 3]
    assert kept(0.01) == [1]  # the likeliest always stays
    assert kept(1.0) == [0, 1, 2, 3]


def test_a_rows_draw_depends_on_its_own_generator_only():
    probabilities = torch.softmax(torch.randn(3, 50, generator=torch.Generator().manual_seed(0)), dim=-1)
    together = [drawn(probabilities, streams(7, 8, 9)).tolist() for _ in range(2)]
    alone = drawn(probabilities[1:2], streams(8)).tolist()
    assert together[0] == together[1] and together[0][1:2] == alone
    assert drawn(probabilities[1:2], streams(8)) == drawn(probabilities[1:2], streams(8))
    others = [drawn(probabilities[1:2], streams(seed)).item() for seed in range(20)]
    assert len(set(others)) > 1


def test_draws_follow_the_distribution_and_never_pick_a_zero():
    probabilities = torch.tensor([[0.0, 0.2, 0.0, 0.6, 0.2]]) * 3  # unnormalized, as after a nucleus
    generator = torch.Generator().manual_seed(1)
    counts = torch.bincount(torch.cat([drawn(probabilities, [generator]) for _ in range(4000)]), minlength=5)
    assert counts[0] == counts[2] == 0
    assert counts.tolist()[1] == pytest.approx(800, abs=120) and counts.tolist()[3] == pytest.approx(2400, abs=150)

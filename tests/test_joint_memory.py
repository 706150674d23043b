"""Memory bank and view-invariant losses against straightforward per-sample implementations."""

from __future__ import annotations

import math

import pytest
import torch
from torch.nn import functional as F

from reidkit.models.memory import MemoryBank
from reidkit.train.contrastive import contrast_only_loss, info_nce, view_invariant_losses


def _bank(labels: list[int], dim: int = 8, seed: int = 0) -> MemoryBank:
    gen = torch.Generator().manual_seed(seed)
    bank = MemoryBank(len(labels), dim=dim)
    bank.init_features(torch.randn(len(labels), dim, generator=gen))
    bank.set_labels(torch.tensor(labels))
    return bank


def _loop_sample(labels, indexes, num_negatives, seed, outliers_as_negatives):
    """Per-anchor loop with the same draws: B uniforms for positives, then a B×N key matrix."""
    gen = torch.Generator().manual_seed(seed)
    u = torch.rand(len(indexes), generator=gen)
    keys = torch.rand(len(indexes), len(labels), generator=gen)
    positives, negative_sets = [], []
    for b, i in enumerate(indexes.tolist()):
        same = [j for j in range(len(labels)) if labels[j] == labels[i]]
        positives.append(same[int(u[b] * len(same))])
        negs = [j for j in range(len(labels)) if labels[j] != labels[i]
                and (outliers_as_negatives or labels[j] >= 0)]
        negative_sets.append(sorted(negs, key=lambda j: float(keys[b, j])))
    k = min(num_negatives, min(len(n) for n in negative_sets))
    return torch.tensor(positives), torch.tensor([n[:k] for n in negative_sets])


@pytest.mark.parametrize("outliers_as_negatives", [False, True])
@pytest.mark.parametrize("num_negatives", [3, 100])
def test_sampling_matches_loop(outliers_as_negatives, num_negatives):
    labels = [0, 1, 0, 2, -1, 1, 1, 2, 0, -1, 3, 3, 0, 2]
    bank = _bank(labels)
    indexes = torch.tensor([0, 5, 3, 10, 12, 6])
    draw = bank.sample(indexes, num_negatives, torch.Generator().manual_seed(7),
                       outliers_as_negatives=outliers_as_negatives)
    pos, negs = _loop_sample(labels, indexes, num_negatives, 7, outliers_as_negatives)
    assert torch.equal(draw.positive, pos)
    assert torch.equal(draw.negatives, negs)
    lab = torch.tensor(labels)
    assert (lab[draw.positive] == lab[indexes]).all()
    assert (lab[draw.negatives] != lab[indexes].unsqueeze(1)).all()


def test_negatives_without_replacement_and_capped():
    labels = [0] * 5 + [1] * 300 + [2] * 40
    bank = _bank(labels)
    draw = bank.sample(torch.tensor([0, 1, 320]), 8192, torch.Generator().manual_seed(1))
    assert draw.negatives.shape == (3, 305)  # min over anchors: label 2 anchors have 305 negatives
    for row in draw.negatives:
        assert len(set(row.tolist())) == row.numel()


def test_positive_draw_is_uniform_over_cluster():
    bank = _bank([0, 0, 0, 1, 1])
    gen = torch.Generator().manual_seed(0)
    counts = torch.zeros(5)
    for _ in range(300):
        counts[bank.sample(torch.tensor([0]), 2, gen).positive] += 1
    assert counts[3:].sum() == 0
    assert (counts[:3] > 70).all()


def test_momentum_update():
    bank = _bank([0, 1, 2])
    before = bank.features.clone()
    f = torch.tensor([[3.0] + [0.0] * 7, [0.0, 4.0] + [0.0] * 6])
    bank.update(torch.tensor([2, 0]), f)
    for slot, row in ((2, 0), (0, 1)):
        expected = 0.2 * before[slot] + 0.8 * F.normalize(f[row], dim=0)
        assert torch.allclose(bank.features[slot], expected / expected.norm(), atol=1e-6)
    assert torch.equal(bank.features[1], before[1])
    assert torch.allclose(bank.features.norm(dim=1), torch.ones(3), atol=1e-6)


def test_info_nce_hand_computed():
    pos, negs = torch.tensor([0.1]), torch.tensor([[0.15, -0.2]])
    tau = 0.04
    expected = math.log(1 + (math.exp(0.15 / tau) + math.exp(-0.2 / tau)) / math.exp(0.1 / tau))
    assert info_nce(pos, negs, tau).item() == pytest.approx(expected, rel=1e-5)


def _hand_bank():
    """Four 2-d memory entries with hand-picked angles; labels 0,0,1,1."""
    bank = MemoryBank(4, dim=2)
    bank.init_features(torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, -1.0]]))
    bank.set_labels(torch.tensor([0, 0, 1, 1]))
    return bank


def _term(pos: float, negs: list[float], tau: float = 0.04) -> float:
    return math.log(1 + sum(math.exp(n / tau) for n in negs) / math.exp(pos / tau))


def test_losses_on_hand_made_features():
    bank = _hand_bank()
    f = torch.tensor([[2.0, 0.0]])            # cos with entries: 1, 0, -1, 0
    f_new = torch.tensor([[1.0, 1.0]])        # cos: .7071, .7071, -.7071, -.7071
    c = 1 / math.sqrt(2)
    gen = torch.Generator().manual_seed(3)
    losses = view_invariant_losses(f, f_new, bank, torch.tensor([0]), gen, tau=0.5)
    # replay the draw to know which positive was taken
    draw = bank.sample(torch.tensor([0]), 8192, torch.Generator().manual_seed(3))
    pos = int(draw.positive)
    negs_new = [-c, -c]                        # entries 2 and 3 scored with f_new
    cos_f = [1.0, 0.0][pos]
    assert losses["vi"].item() == pytest.approx(_term(cos_f, negs_new, 0.5), rel=1e-4)
    assert losses["vi1"].item() == pytest.approx(_term(c, negs_new, 0.5), rel=1e-4)  # vs f
    assert losses["vi2"].item() == pytest.approx(_term(c, negs_new, 0.5), rel=1e-4)  # vs M[pos]
    wo = contrast_only_loss(f, bank, torch.tensor([0]), torch.Generator().manual_seed(3), tau=0.5)
    assert wo.item() == pytest.approx(_term(cos_f, [-1.0, 0.0], 0.5), rel=1e-4)  # negs vs f


def test_reference_variant_own_slot_and_outliers():
    bank = _hand_bank()
    bank.set_labels(torch.tensor([0, 0, 1, -1]))
    f = torch.tensor([[0.0, 1.0]])
    f_new = torch.tensor([[1.0, 0.0]])
    gen = torch.Generator().manual_seed(0)
    ref = view_invariant_losses(f, f_new, bank, torch.tensor([1]), gen, variant="reference",
                                terms=("vi1",), tau=0.5)
    # own slot M[1] = (0,1): cos with f_new = 0; negatives 2 (cos -1) and the outlier 3 (cos 0)
    assert ref["vi1"].item() == pytest.approx(_term(0.0, [-1.0, 0.0], 0.5), rel=1e-4)
    paper = view_invariant_losses(f, f_new, bank, torch.tensor([1]), gen, terms=("vi1",), tau=0.5)
    # paper: positive sim(f_new, f) = 0, negatives exclude the outlier
    assert paper["vi1"].item() == pytest.approx(_term(0.0, [-1.0], 0.5), rel=1e-4)


def test_vectorised_loss_matches_loop_on_random_batch():
    labels = [i % 5 for i in range(40)]
    bank = _bank(labels, dim=16, seed=2)
    gen = torch.Generator().manual_seed(11)
    f = torch.randn(6, 16, generator=gen, requires_grad=True)
    f_new = torch.randn(6, 16, generator=gen, requires_grad=True)
    indexes = torch.tensor([0, 7, 13, 21, 34, 39])
    losses = view_invariant_losses(f, f_new, bank, indexes, torch.Generator().manual_seed(5),
                                   tau=0.05, num_negatives=20)
    pos, negs = _loop_sample(labels, indexes, 20, 5, False)
    fn, fnn, mem = F.normalize(f, dim=1), F.normalize(f_new, dim=1), bank.features
    expected = {"vi": 0.0, "vi1": 0.0, "vi2": 0.0}
    for b in range(6):
        n = [float(fnn[b].detach() @ mem[j]) for j in negs[b]]
        expected["vi"] += _term(float(fn[b].detach() @ mem[pos[b]]), n, 0.05) / 6
        expected["vi1"] += _term(float(fnn[b].detach() @ fn[b].detach()), n, 0.05) / 6
        expected["vi2"] += _term(float(fnn[b].detach() @ mem[pos[b]]), n, 0.05) / 6
    for key, value in expected.items():
        assert losses[key].item() == pytest.approx(value, rel=1e-4)
    sum(losses.values()).backward()
    assert f.grad is not None and f_new.grad is not None and f.grad.abs().sum() > 0


def test_no_negatives_is_an_error():
    bank = _bank([0, 0, 0])
    with pytest.raises(ValueError, match="different pseudo label"):
        bank.sample(torch.tensor([0]), 10, torch.Generator())

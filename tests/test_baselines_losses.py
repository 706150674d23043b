"""Warm-up losses and momentum updates against hand-computed cases or naive loop implementations."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from reidkit.baselines import ice as ice_module
from reidkit.baselines import losses as L
from reidkit.baselines.ice import check_ice_config
from reidkit.baselines.jvtc import JVTC
from reidkit.errors import ConfigError


def unit(*rows):
    return F.normalize(torch.tensor(rows, dtype=torch.float64), dim=1)


def test_memory_update_hand_case():
    memory = unit([1.0, 0.0], [0.0, 1.0])
    L.memory_update(memory, torch.tensor([0]), unit([0.0, 1.0]), momentum=0.5)
    s = 1 / math.sqrt(2)
    assert torch.allclose(memory, torch.tensor([[s, s], [0.0, 1.0]], dtype=torch.float64))
    L.memory_update(memory, torch.tensor([1]), unit([1.0, 0.0]), momentum=1.0)  # all old
    assert torch.allclose(memory[1], torch.tensor([0.0, 1.0], dtype=torch.float64))


def test_ema_update_hand_case_leaves_bn_statistics_alone():
    target, source = nn.BatchNorm1d(1), nn.BatchNorm1d(1)
    with torch.no_grad():
        target.weight.fill_(1.0)
        source.weight.fill_(3.0)
        target.running_mean.fill_(-2.0)
        source.running_mean.fill_(7.0)
        source.running_var.fill_(5.0)
    L.ema_update(target, source, alpha=0.9)
    assert target.weight.item() == pytest.approx(0.9 * 1 + 0.1 * 3)
    assert target.running_mean.item() == -2.0  # the momentum encoder's own statistics
    assert target.running_var.item() == 1.0


def test_jvtc_memory_momentum_schedule():
    method = JVTC.__new__(JVTC)
    method.config = SimpleNamespace(memory_rate=0.01, memory_max=0.8)
    assert [method.memory_momentum(e) for e in (0, 10, 80, 100)] == [0.0, 0.1, 0.8, 0.8]


def test_local_consistency_hand_case():
    views = unit([1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]).view(2, 2, 2)
    expected = math.log(1 + math.exp(-10))  # logits (10, 0) for every view, beta 0.1
    assert L.local_consistency_loss(views, 0.1).item() == pytest.approx(expected, rel=1e-9)


def test_local_consistency_matches_loop():
    torch.manual_seed(1)
    views = F.normalize(torch.randn(3, 4, 5, dtype=torch.float64), dim=2)
    protos = [F.normalize(views[b].mean(0), dim=0) for b in range(3)]
    total = 0.0
    for b in range(3):
        for v in range(4):
            scores = torch.stack([views[b, v] @ p / 0.1 for p in protos])
            total += -(scores[b] - torch.logsumexp(scores, 0))
    assert L.local_consistency_loss(views, 0.1).item() == pytest.approx(total.item() / 12)


def test_memory_multilabel_hand_case():
    memory = unit([1.0, 0.0], [0.6, 0.8], [0.0, 1.0])
    labels = torch.tensor([0, 0, 1])
    feat = memory[:1]
    logits = [1.0, 0.6, 0.0]
    log_z = math.log(sum(math.exp(x) for x in logits))
    expected = -((logits[0] - log_z) + (logits[1] - log_z)) / 2
    got = L.memory_multilabel_loss(feat, torch.tensor([0]), memory, labels, beta=1.0)
    assert got.item() == pytest.approx(expected)
    # an outlier's only positive is its own row
    got = L.memory_multilabel_loss(feat, torch.tensor([0]), memory, torch.tensor([-1, -1, 1]), 1.0)
    assert got.item() == pytest.approx(-(logits[0] - log_z))


def test_mmcl_loss_hand_case():
    logits = torch.tensor([[0.9, 0.5, 0.2, -0.1, 0.3]])
    positive = torch.tensor([[True, False, False, False, False]])
    expected = 5 * (1 - 0.9) ** 2 + ((1 + 0.5) ** 2 + (1 + 0.3) ** 2) / 2  # 2 hardest of 4
    assert L.mmcl_loss(logits, positive, delta=5.0, r=0.5).item() == pytest.approx(expected)
    assert L.mmcl_loss(logits, positive, delta=5.0, r=0.1).item() == pytest.approx(5 * 0.01)


def _mplp_naive(memory, anchor, t, kmin, kmax):
    sims = memory @ memory[anchor]
    order = torch.argsort(sims, descending=True, stable=True).tolist()
    above = int((sims > t).sum())
    k = min(max(above, kmin), kmax, len(memory))
    positives = {anchor}
    for j, cand in enumerate(order[:k]):
        own = memory @ memory[cand]
        rank = int((own > own[anchor]).sum())
        if rank >= k or j >= above:
            break
        positives.add(cand)
    return positives


def test_mplp_matches_naive_rule():
    torch.manual_seed(3)
    centres = F.normalize(torch.randn(4, 8), dim=1)
    memory = F.normalize(centres.repeat_interleave(5, 0) + 0.3 * torch.randn(20, 8), dim=1)
    indices = torch.tensor([0, 3, 7, 12, 19])
    got = L.mplp_labels(memory, indices, t=0.6, min_candidates=3, max_candidates=8, chunk=2)
    for row, anchor in enumerate(indices.tolist()):
        expected = _mplp_naive(memory, anchor, 0.6, 3, 8)
        assert set(torch.nonzero(got[row]).flatten().tolist()) == expected


def test_cluster_proxies_hand_case():
    feats = unit([1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [5.0, 1.0])
    labels = torch.tensor([0, 0, 1, -1])
    cams = torch.tensor([0, 1, 0, 0])
    proxies, cluster, cam = L.cluster_proxies(feats, labels)
    assert torch.allclose(proxies, unit([1.0, 1.0], [1.0, 1.0]))
    assert cluster.tolist() == [0, 1] and cam.tolist() == [-1, -1]
    proxies, cluster, cam = L.cluster_proxies(feats, labels, cams)
    assert torch.allclose(proxies, unit([1.0, 0.0], [0.0, 1.0], [1.0, 1.0]))
    assert cluster.tolist() == [0, 0, 1] and cam.tolist() == [0, 1, 0]
    means, _, _ = L.cluster_proxies(feats, labels, normalise=False)  # ICE's plain centres
    s = 1 / math.sqrt(2)
    expected = torch.tensor([[0.5, 0.5], [s, s]], dtype=torch.float64)
    assert torch.allclose(means, expected)


def test_agnostic_proxy_loss_uses_the_raw_feature_and_label_smoothing():
    raw = torch.tensor([[3.0, 0.0]], dtype=torch.float64)  # norm 3: not normalised
    centres = torch.tensor([[0.5, 0.5], [0.0, 1.0]], dtype=torch.float64)  # plain means
    # logits f·p/τ = (1.5, 0)/0.5 = (3, 0); smoothed target (0.95, 0.05) over 2 clusters
    log_p0 = 3 - math.log(math.exp(3) + 1)
    log_p1 = -math.log(math.exp(3) + 1)
    expected = -(0.95 * log_p0 + 0.05 * log_p1)
    got = L.agnostic_proxy_loss(raw, torch.tensor([0]), centres, tau=0.5, smoothing=0.1)
    assert got.item() == pytest.approx(expected)
    unsmoothed = L.agnostic_proxy_loss(raw, torch.tensor([0]), centres, 0.5, smoothing=0.0)
    assert unsmoothed.item() == pytest.approx(math.log(1 + math.exp(-3)))


def test_cross_camera_proxy_loss_matches_loop():
    torch.manual_seed(4)
    proxies = F.normalize(torch.randn(7, 6, dtype=torch.float64), dim=1)
    p_cluster = torch.tensor([0, 0, 0, 1, 1, 2, 3])
    p_cam = torch.tensor([0, 1, 2, 0, 1, 0, 2])
    feats = F.normalize(torch.randn(3, 6, dtype=torch.float64), dim=1)
    labels, cams = torch.tensor([0, 1, 2]), torch.tensor([1, 0, 0])  # cluster 2: no positive
    tau, num_neg = 0.07, 2
    per_anchor = []
    for i in range(3):
        s = proxies @ feats[i] / tau
        pos = [j for j in range(7) if p_cluster[j] == labels[i] and p_cam[j] != cams[i]]
        negs = sorted((s[j].item() for j in range(7) if p_cluster[j] != labels[i]), reverse=True)
        negs = torch.tensor(negs[:num_neg], dtype=torch.float64)
        if not pos:
            continue
        terms = [-(s[j] - torch.logsumexp(torch.cat([s[j : j + 1], negs]), 0)) for j in pos]
        per_anchor.append(sum(terms) / len(terms))
    expected = sum(per_anchor) / len(per_anchor)
    got = L.cross_camera_proxy_loss(feats, labels, cams, proxies, p_cluster, p_cam, tau, num_neg)
    assert got.item() == pytest.approx(expected.item())


def test_camera_sum_proxy_loss_follows_the_authors_loop():
    """The public code: per camera of the batch, 0.5 x (sum over its anchors of a soft-target
    log loss over all proxies of the anchor's cluster + its nearest other proxies) / anchors;
    summed over cameras. Our function returns the sum without the 0.5 (cross_weight)."""
    torch.manual_seed(8)
    proxies = F.normalize(torch.randn(8, 5, dtype=torch.float64), dim=1)
    p_cluster = torch.tensor([0, 0, 0, 1, 1, 2, 3, 3])
    feats = F.normalize(torch.randn(5, 5, dtype=torch.float64), dim=1)
    labels = torch.tensor([0, 1, 0, 3, 2])
    cams = torch.tensor([2, 2, 0, 0, 0])  # camera 2: two anchors, camera 0: three
    tau, num_neg = 0.07, 3
    total = 0.0
    for cam in (0, 2):
        anchors = [i for i in range(5) if cams[i] == cam]
        cam_loss = 0.0
        for i in anchors:
            s = proxies @ feats[i] / tau
            pos = [j for j in range(8) if p_cluster[j] == labels[i]]
            others = sorted((j for j in range(8) if j not in pos), key=lambda j: -s[j].item())
            entries = torch.stack([s[j] for j in pos + others[:num_neg]])
            log_soft = entries - torch.logsumexp(entries, 0)
            cam_loss += -sum(log_soft[: len(pos)]) / len(pos)
        total += 0.5 * cam_loss / len(anchors)
    got = L.camera_sum_proxy_loss(feats, labels, cams, proxies, p_cluster, tau, num_neg)
    assert 0.5 * got.item() == pytest.approx(float(total))


def test_hard_instance_loss_matches_loop():
    torch.manual_seed(5)
    f = F.normalize(torch.randn(6, 4, dtype=torch.float64), dim=1)
    m = F.normalize(torch.randn(6, 4, dtype=torch.float64), dim=1)
    labels = torch.tensor([0, 0, 1, 1, 2, 2])
    total = 0.0
    for i in range(6):
        s = m @ f[i] / 0.1
        pos = min(s[j] for j in range(6) if labels[j] == labels[i])
        negs = torch.stack([s[j] for j in range(6) if labels[j] != labels[i]])
        total += -(pos - torch.logsumexp(torch.cat([pos.view(1), negs]), 0))
    assert L.hard_instance_loss(f, m, labels, 0.1).item() == pytest.approx(total.item() / 6)


def test_soft_instance_loss_directions():
    torch.manual_seed(6)
    f = F.normalize(torch.randn(5, 4, dtype=torch.float64), dim=1)
    m = F.normalize(torch.randn(5, 4, dtype=torch.float64), dim=1)
    w = F.normalize(torch.randn(5, 4, dtype=torch.float64), dim=1)
    p = torch.softmax(f @ m.t() / 0.4, 1)  # online view 1 vs momentum strong view 2
    q = torch.softmax(w @ w.t() / 0.4, 1)  # momentum weak view vs itself
    paper = (p * (p / q).log()).sum(1).mean()
    ref = (q * (q / p).log()).sum(1).mean()
    assert L.soft_instance_loss(f, m, w, 0.4, "paper").item() == pytest.approx(paper.item())
    assert L.soft_instance_loss(f, m, w, 0.4, "ref").item() == pytest.approx(ref.item())
    assert L.soft_instance_loss(w, w, w, 0.4).item() == pytest.approx(0.0, abs=1e-12)


def test_label_smoothing_ce_matches_torch():
    torch.manual_seed(7)
    logits, targets = torch.randn(4, 6), torch.tensor([0, 5, 2, 2])
    expected = F.cross_entropy(logits, targets, label_smoothing=0.1)
    assert L.label_smoothing_ce(logits, targets, 0.1).item() == pytest.approx(
        expected.item(), rel=1e-5
    )


def test_batch_hard_triplet_hand_case():
    feats = torch.tensor([[0.0], [1.0], [3.0], [3.5]])
    labels = torch.tensor([0, 0, 1, 1])
    # hardest pos / neg distances: a0 1/3, a1 1/2, a2 0.5/2, a3 0.5/2.5; margin 0.3
    expected = (0 + max(0, 1 - 2 + 0.3) + 0 + 0) / 4
    assert L.batch_hard_triplet(feats, labels, 0.3).item() == pytest.approx(expected)
    expected = (
        max(0, 1 - 3 + 2.5) + max(0, 1 - 2 + 2.5) + max(0, 0.5 - 2 + 2.5) + max(0, 0.5 - 2.5 + 2.5)
    ) / 4
    assert L.batch_hard_triplet(feats, labels, 2.5).item() == pytest.approx(expected)


def _ice_cfg(**kw):
    base = dict(
        memory="aware",
        kl_direction="paper",
        cross_variant="ref",
        hard=True,
        soft=True,
        batch_size=32,
        num_instances=4,
        ema=0.999,
    )
    return SimpleNamespace(**{**base, **kw})


def test_ice_refuses_the_collapsing_combination():
    with pytest.raises(ConfigError, match="collapses"):
        check_ice_config(_ice_cfg(memory="agnostic", hard=False, soft=True))
    check_ice_config(_ice_cfg(memory="agnostic", hard=True, soft=True))
    check_ice_config(_ice_cfg(memory="aware", hard=False, soft=True))
    with pytest.raises(ConfigError):
        check_ice_config(_ice_cfg(memory="both"))
    with pytest.raises(ConfigError, match="ema"):
        check_ice_config(_ice_cfg(ema=1.0))


def test_ice_warns_when_the_run_is_too_short_for_its_ema(monkeypatch):
    messages = []
    monkeypatch.setattr(ice_module.log, "warn", messages.append)
    # 10 epochs x 50 iterations: 0.999 ** 500 = 0.606 of the start remains (by hand)
    ice_module.warn_short_ema(_ice_cfg(epochs=10, iters=50, batch_size=16), 800)
    assert len(messages) == 1
    assert "500 iterations" in messages[0] and "61%" in messages[0]
    assert "--ema 0.99 " in messages[0]  # 1 - 5 / 500
    # iters 0 = one pass: 800 // 16 = 50 iterations; 0.99 ** 50 = 0.605
    ice_module.warn_short_ema(_ice_cfg(epochs=1, iters=0, batch_size=16, ema=0.99), 800)
    assert "50 iterations" in messages[1] and "61%" in messages[1]
    # the paper's schedule (40 x 400): 0.999 ** 16000 ~ 1e-7, nothing to say
    ice_module.warn_short_ema(_ice_cfg(epochs=40, iters=400, batch_size=64), 12936)
    assert len(messages) == 2


class _Linear(nn.Module):
    """Stand-in E_id: (unused part code, a linear map of the flattened image)."""

    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(4, 3, bias=False).double()

    def forward(self, x):
        return None, self.proj(x.flatten(1))


def test_jvtc_global_term_is_per_view_with_replicated_targets():
    torch.manual_seed(9)
    method = JVTC.__new__(JVTC)
    method.config = SimpleNamespace(beta_local=0.1, beta_global=0.05, global_start=0,
                                    global_weight=0.2, memory_rate=0.01, memory_max=0.8)
    method.model, method.device = _Linear(), torch.device("cpu")
    method.optimizer = torch.optim.SGD(method.model.parameters(), lr=0.0)
    method.memory = F.normalize(torch.randn(6, 3, dtype=torch.float64), dim=1)
    method.labels = torch.tensor([0, 0, 1, 1, 2, 2]).numpy()
    images = torch.randn(2, 2, 4, dtype=torch.float64)  # 2 images x 2 views
    indices = torch.tensor([1, 4])
    views = F.normalize(method.model(images.flatten(0, 1))[1], dim=1).detach()
    expected = 0.0
    for row in range(4):  # each view against the memory, its own image's targets
        anchor = indices[row // 2]
        log_p = torch.log_softmax(method.memory @ views[row] / 0.05, 0)
        same = [j for j in range(6) if method.labels[j] == method.labels[anchor]]
        expected += -sum(log_p[j] for j in same) / len(same)
    terms = method.step(images, indices, epoch=1)
    assert terms["global"] == pytest.approx(float(expected) / 4)

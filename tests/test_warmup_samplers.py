"""Batch composition of the warm-up samplers and the multi-view augmentation wrapper."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
import torch
from PIL import Image

from reidkit.data.augment import MultiView, strong_transform, train_transform
from reidkit.data.samplers import identity_batches, random_batches
from reidkit.data.transforms import test_transform as eval_transform


def test_random_batches_cover_each_index_once_per_pass():
    batches = random_batches(10, 3, np.random.default_rng(0))
    assert [len(b) for b in batches] == [3, 3, 3]
    flat = np.concatenate(batches)
    assert len(set(flat.tolist())) == 9
    more = random_batches(10, 3, np.random.default_rng(0), num_batches=7)
    assert len(more) == 7


def test_identity_batches_pxk_without_outliers():
    labels = np.array([0] * 6 + [1] * 5 + [2] * 2 + [3] * 8 + [-1] * 4)
    batches = identity_batches(labels, num_instances=2, batch_size=6, rng=np.random.default_rng(1))
    assert batches
    for batch in batches:
        counts = Counter(labels[batch].tolist())
        assert len(counts) == 3 and set(counts.values()) == {2}
        assert -1 not in counts
    fixed = identity_batches(labels, 2, 6, np.random.default_rng(1), num_batches=20)
    assert len(fixed) == 20
    again = identity_batches(labels, 2, 6, np.random.default_rng(1), num_batches=20)
    assert all((a == b).all() for a, b in zip(fixed, again, strict=True))


def test_identity_batches_small_cluster_sampled_with_replacement():
    labels = np.array([0, 1, 1, 1, 1])
    batch = identity_batches(labels, 4, 8, np.random.default_rng(0))[0]
    assert Counter(labels[batch].tolist()) == {0: 4, 1: 4}


def test_camera_diverse_batches_take_distinct_cameras_first():
    # every identity has 8 images over 4 cameras (2 each): K=4 must give 4 distinct cameras
    labels = np.repeat(np.arange(6), 8)
    cams = np.tile(np.repeat(np.arange(4), 2), 6)
    batches = identity_batches(labels, 4, 8, np.random.default_rng(2), cams=cams, num_batches=30)
    for batch in batches:
        for ident in np.unique(labels[batch]):
            chosen = batch[labels[batch] == ident]
            assert len(set(cams[chosen].tolist())) == 4


def test_identity_batches_refuses_too_few_identities():
    with pytest.raises(ValueError, match="fewer"):
        identity_batches(np.array([0, 0, 1, 1]), 2, 8, np.random.default_rng(0))


def test_multiview_shapes_and_transforms():
    image = Image.fromarray(np.random.default_rng(0).integers(0, 255, (40, 20, 3), dtype=np.uint8))
    views = MultiView(train_transform((32, 16)), views=3)(image)
    assert views.shape == (3, 3, 32, 16)
    torch.manual_seed(0)
    pair = MultiView([strong_transform((32, 16)), eval_transform((32, 16))])(image)
    assert pair.shape == (2, 3, 32, 16)
    assert torch.equal(pair[1], eval_transform((32, 16))(image))  # the plain view is deterministic


@pytest.mark.parametrize(("size", "pad"), [((256, 128), 10), ((128, 64), 5), ((64, 32), 2)])
def test_crop_shift_scales_with_the_image(size, pad):
    """A bright dot at the centre moves by at most the padding, and by that much for some draw."""
    h, w = size
    canvas = np.zeros((h, w, 3), dtype=np.uint8)
    canvas[h // 2, w // 2] = 255
    transform = train_transform(size, flip=False, erasing=0.0)
    torch.manual_seed(0)
    shifts = []
    for _ in range(200):
        out = transform(Image.fromarray(canvas))[0]
        row, col = np.unravel_index(int(out.argmax()), out.shape)
        shifts.append(max(abs(row - h // 2), abs(col - w // 2)))
    assert max(shifts) == pad

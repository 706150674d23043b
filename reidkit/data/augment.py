"""Training augmentations for warm-up: the standard ReID set built from torchvision transforms,
and a multi-view wrapper (several augmented views of one image, for JVTC and ICE)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from PIL import Image
from torchvision import transforms as T

from reidkit.data.transforms import IMAGENET_MEAN, IMAGENET_STD


def scaled_pad(size: tuple[int, int]) -> int:
    """The ReID crop padding, 10 px at the standard 256×128, scaled with the image width: a
    fixed 10 px would shift a 64×32 image by a third of its width and stall short runs."""
    return round(10 * size[1] / 128)


def train_transform(
    size: tuple[int, int],
    *,
    flip: bool = True,
    pad: int | None = None,
    erasing: float = 0.5,
    blur: float = 0.0,
    color_jitter: float = 0.0,
) -> Callable[[Image.Image], torch.Tensor]:
    """Resize, flip, pad + random crop, optional colour jitter / Gaussian blur, ImageNet
    normalisation, random erasing (probabilities 0 switch a step off; `pad` None = scaled)."""
    if pad is None:
        pad = scaled_pad(size)
    steps: list[Callable] = [T.Resize(size, interpolation=T.InterpolationMode.BICUBIC)]
    if flip:
        steps.append(T.RandomHorizontalFlip(0.5))
    if pad > 0:
        steps += [T.Pad(pad), T.RandomCrop(size)]
    if color_jitter > 0:
        steps.append(T.RandomApply([T.ColorJitter(0.4, 0.4, 0.4, 0.1)], p=color_jitter))
    if blur > 0:
        kernel = max(3, (size[1] // 10) | 1)
        steps.append(T.RandomApply([T.GaussianBlur(kernel, sigma=(0.1, 2.0))], p=blur))
    steps += [T.ToTensor(), T.Normalize(IMAGENET_MEAN, IMAGENET_STD)]
    if erasing > 0:
        steps.append(T.RandomErasing(p=erasing, value=list(IMAGENET_MEAN)))
    return T.Compose(steps)


def strong_transform(size: tuple[int, int]) -> Callable[[Image.Image], torch.Tensor]:
    """ICE's strong augmentation: flip, pad (10 at 256×128) + crop, Gaussian blur (p 0.5),
    erasing (p 0.6)."""
    return train_transform(size, flip=True, erasing=0.6, blur=0.5)


class MultiView:
    """Apply several transforms (or one transform several times) to the same image and stack
    the results into a [V, C, H, W] tensor."""

    def __init__(self, transforms: Sequence[Callable] | Callable, views: int | None = None):
        if callable(transforms) and not isinstance(transforms, Sequence):
            transforms = [transforms] * (views or 2)
        if not transforms:
            raise ValueError("MultiView needs at least one transform")
        self.transforms = list(transforms)

    def __call__(self, image: Image.Image) -> torch.Tensor:
        return torch.stack([t(image) for t in self.transforms])

    def __len__(self) -> int:
        return len(self.transforms)

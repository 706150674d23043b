"""The image constants every package shares (ImageNet normalisation, the default input size) and
the deterministic transform without augmentation (evaluation, GAN stages, ICE's plain view)."""

from __future__ import annotations

from torchvision import transforms as T

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# Input and render size (height, width) when neither an option nor a checkpoint gives one.
DEFAULT_SIZE = (256, 128)


def test_transform(size: tuple[int, int] = DEFAULT_SIZE) -> T.Compose:
    """Resize to (h, w) (bicubic, as JVTC/GCL), to tensor, ImageNet normalisation."""
    return T.Compose(
        [
            T.Resize(tuple(size), interpolation=T.InterpolationMode.BICUBIC),
            T.ToTensor(),
            T.Normalize(IMAGENET_MEAN, IMAGENET_STD),
        ]
    )

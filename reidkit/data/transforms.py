"""Image transforms shared by evaluation and the GAN stages."""

from __future__ import annotations

from torchvision import transforms as T

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def test_transform(size: tuple[int, int] = (256, 128)) -> T.Compose:
    """Resize to (h, w) (bicubic, as JVTC/GCL), to tensor, ImageNet normalisation."""
    return T.Compose(
        [
            T.Resize(tuple(size), interpolation=T.InterpolationMode.BICUBIC),
            T.ToTensor(),
            T.Normalize(IMAGENET_MEAN, IMAGENET_STD),
        ]
    )

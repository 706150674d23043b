"""Generated views as pictures: tensors to uint8 images and contact sheets."""

"""CycleGAN's history of generated images (Shrivastava et al. 2017).

Showing the discriminator a mix of the newest fakes and older ones keeps it from chasing the
generator's latest mode only, which damps oscillation.
"""

from __future__ import annotations

from typing import Any

import torch


class ImagePool:
    """Up to ``size`` past generated images; ``query`` returns a batch to train the discriminator on.

    Draws come from the pool's own generator, never the global RNG, so the pool neither disturbs
    nor depends on the data pipeline's randomness, and its state is checkpointed with the stored
    images (``state_dict``) so a resumed run makes the same draws.
    """

    def __init__(self, size: int = 50, *, seed: int = 0) -> None:
        if size < 0:
            raise ValueError(f"image pool size must be >= 0, got {size}")
        self.size = size
        self._images: list[torch.Tensor] = []
        self._generator = torch.Generator(device="cpu")
        self._generator.manual_seed(seed)

    def __len__(self) -> int:
        return len(self._images)

    def query(self, images: torch.Tensor) -> torch.Tensor:
        """While filling, each image is stored and returned; once full, each image is, with
        probability 1/2, swapped for a uniformly chosen stored one (which is returned instead)."""
        if self.size == 0:
            return images
        # Images restored from a checkpoint are on the CPU: move them next to the batch once.
        if self._images and self._images[0].device != images.device:
            self._images = [im.to(images.device) for im in self._images]
        out: list[torch.Tensor] = []
        for image in images.detach():
            if len(self._images) < self.size:
                self._images.append(image.clone())
                out.append(image)
            elif torch.rand(1, generator=self._generator).item() < 0.5:
                slot = int(torch.randint(self.size, (1,), generator=self._generator).item())
                out.append(self._images[slot])
                self._images[slot] = image.clone()
            else:
                out.append(image)
        return torch.stack(out).to(device=images.device, dtype=images.dtype)

    def state_dict(self) -> dict[str, Any]:
        images = torch.stack([im.cpu() for im in self._images]) if self._images else torch.empty(0)
        return {"size": self.size, "images": images, "generator": self._generator.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        images = state["images"]
        if state.get("size", self.size) != self.size or len(images) > self.size:
            raise ValueError(
                f"image pool state holds {len(images)} images of a size-{state.get('size')} pool,"
                f" this pool's size is {self.size}"
            )
        self._images = [im.clone() for im in images]
        self._generator.set_state(state["generator"])

"""A pool of past fakes for D (Shrivastava et al., 2017), as CycleGAN uses: D sees a history of G's
outputs, not only the latest, which damps oscillation."""

from __future__ import annotations

import torch


class ImagePool:
    """Holds up to ``size`` past images. Each queried image, once the pool is full, is returned as it is
    or, with probability one half, swapped for a random stored image (which is returned instead)."""

    def __init__(self, size: int):
        self.size = size
        self.images: list[torch.Tensor] = []

    def query(self, images: torch.Tensor) -> torch.Tensor:
        if self.size == 0:
            return images
        returned = []
        for image in images.detach():
            if len(self.images) < self.size:
                self.images.append(image)
                returned.append(image)
            elif torch.rand(1).item() < 0.5:
                slot = int(torch.randint(0, self.size, (1,)).item())
                returned.append(self.images[slot])
                self.images[slot] = image
            else:
                returned.append(image)
        return torch.stack(returned)

    def state_dict(self) -> dict[str, torch.Tensor]:
        stored = torch.stack(self.images).cpu() if self.images else torch.empty(0)
        return {"images": stored}

    def load_state_dict(self, state: dict[str, torch.Tensor], device: torch.device) -> None:
        self.images = list(state["images"].to(device).unbind(0)) if state["images"].numel() else []

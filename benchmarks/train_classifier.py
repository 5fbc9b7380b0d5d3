"""Train the small MNIST classifier that bench_cgan_quality.py uses to judge cGAN samples.

    python benchmarks/train_classifier.py classifier.pt [--epochs 2] [--data-root ~/.cache/gan-cli]

It trains on the real MNIST training set (loaded offline by gan_cli.data.mnist.load_mnist), prints its
accuracy on the 10k test set, and saves a weights-only state_dict: nothing is downloaded, and loading
it runs no code. Inputs are 28x28 images in [-1, 1], the range the GAN's generator produces.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from gan_cli.data.mnist import load_mnist

MNIST_SIZE = 28


def default_data_root() -> Path:
    """The same default as gan-train's data.root."""
    return Path(os.environ.get("GAN_CLI_DATA", "~/.cache/gan-cli")).expanduser()


class MnistClassifier(nn.Module):
    """Two 5x5 conv + pool blocks and a small MLP head: about 99% test accuracy after two epochs."""

    def __init__(self, classes: int = 10):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 32, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        )
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(64 * 7 * 7, 128), nn.ReLU(), nn.Dropout(0.3), nn.Linear(128, classes))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(images))


def mnist_split(root: Path, train: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """MNIST images as float [N, 1, 28, 28] in [-1, 1], and labels."""
    images, labels = load_mnist(root, train=train, download=False)
    return images.float().mul(2 / 255).sub(1), labels


def as_classifier_input(images: torch.Tensor) -> torch.Tensor:
    """Generated images in [-1, 1] at any size → 28x28, resized the way gan-cli resizes its data."""
    if images.shape[-1] == MNIST_SIZE and images.shape[-2] == MNIST_SIZE:
        return images
    return F.interpolate(images, size=(MNIST_SIZE, MNIST_SIZE), mode="bilinear", antialias=True, align_corners=False)


@torch.no_grad()
def predict(model: nn.Module, images: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    model.eval()
    return torch.cat([model(images[i : i + batch_size]).argmax(1) for i in range(0, len(images), batch_size)])


def accuracy(model: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> float:
    return (predict(model, images) == labels).float().mean().item()


def train_classifier(root: Path, epochs: int, seed: int, batch_size: int = 128) -> tuple[MnistClassifier, float]:
    torch.manual_seed(seed)
    images, labels = mnist_split(root, train=True)
    model = MnistClassifier()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    for epoch in range(epochs):
        model.train()
        order = torch.randperm(len(images))
        started = time.perf_counter()
        for start in range(0, len(order), batch_size):
            index = order[start : start + batch_size]
            # One-pixel random shifts: generated digits are not centred as exactly as MNIST's.
            batch = torch.roll(images[index], shifts=tuple(torch.randint(-1, 2, (2,)).tolist()), dims=(2, 3))
            loss = F.cross_entropy(model(batch), labels[index])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        print(f"epoch {epoch + 1}/{epochs}: last batch loss {loss.item():.4f} ({time.perf_counter() - started:.0f} s)")
    test_images, test_labels = mnist_split(root, train=False)
    return model, accuracy(model, test_images, test_labels)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="where to save the state_dict, e.g. classifier.pt")
    parser.add_argument("--data-root", type=Path, default=default_data_root(), help="MNIST root (as data.root)")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    model, test_accuracy = train_classifier(args.data_root.expanduser(), args.epochs, args.seed)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), args.out)
    print(f"test accuracy {test_accuracy:.4f}; saved {args.out}")


if __name__ == "__main__":
    main()

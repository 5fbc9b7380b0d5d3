"""Train the small MNIST classifier that bench_cgan_quality.py uses to judge cGAN samples.

    python benchmarks/train_classifier.py classifier.pt [--epochs 2] [--data-root ~/.cache/gan-cli]

It trains on the real MNIST training set (loaded offline by gan_cli.data.mnist.load_mnist), prints its
accuracy on the 10k test set, and saves a weights-only state_dict of gan_cli.metrics.classifier.DomainClassifier: nothing is downloaded, and loading
it runs no code. Inputs are 28x28 images in [-1, 1], the range the GAN's generator produces.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import torch

from gan_cli.data.memory import to_unit_range
from gan_cli.data.mnist import load_mnist
from gan_cli.metrics.classifier import ClassifierSpec, DomainClassifier, accuracy, train_classifier


def default_data_root() -> Path:
    """The same default as gan-train's data.root."""
    return Path(os.environ.get("GAN_CLI_DATA", "~/.cache/gan-cli")).expanduser()


def mnist_split(root: Path, train: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """MNIST images as float [N, 1, 28, 28] in [-1, 1], and labels."""
    images, labels = load_mnist(root, train=train, download=False)
    return to_unit_range(images), labels


@torch.no_grad()
def predict(model: DomainClassifier, images: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    model.eval()
    return torch.cat([model(chunk).argmax(1) for chunk in images.split(batch_size)])


def mnist_classifier(root: Path, epochs: int, seed: int) -> tuple[DomainClassifier, float]:
    images, labels = mnist_split(root, train=True)
    started = time.perf_counter()
    model = train_classifier(images, labels, ClassifierSpec("mnist/train", len(images), 1, 10, epochs=epochs, seed=seed))
    print(f"trained {epochs} epochs in {time.perf_counter() - started:.0f} s")
    return model, accuracy(model, *mnist_split(root, train=False))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="where to save the state_dict, e.g. classifier.pt")
    parser.add_argument("--data-root", type=Path, default=default_data_root(), help="MNIST root (as data.root)")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    model, test_accuracy = mnist_classifier(args.data_root.expanduser(), args.epochs, args.seed)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), args.out)
    print(f"test accuracy {test_accuracy:.4f}; saved {args.out}")


if __name__ == "__main__":
    main()

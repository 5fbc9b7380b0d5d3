"""How often a trained cGAN draws the class it is asked for, judged by an MNIST classifier.

    python benchmarks/train_classifier.py classifier.pt          # once
    gan-train model=cgan                                          # the default ~5 minute CPU demo
    python benchmarks/bench_cgan_quality.py --ckpt outputs/.../checkpoints/last.pt --classifier classifier.pt

For each class k it draws ``--per-class`` samples exactly as ``gan-sample label=k`` does (fresh latents,
label k), resizes them to 28x28, and counts how many the classifier labels k. It prints the per-class
and mean accuracy, and the classifier's own accuracy on the real MNIST test set for scale. The exit
status is 1 when the mean is below ``--target`` (0.9). A benchmark, not a test: it needs real MNIST and
a trained checkpoint.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from train_classifier import default_data_root, mnist_split, predict

from gan_cli.commands.sample import conditional_inputs, family_from_checkpoint
from gan_cli.device.runtime import resolve_device
from gan_cli.families.latent import generate_batched, label_classes
from gan_cli.metrics.classifier import DomainClassifier, accuracy
from gan_cli.training.checkpoint import load_checkpoint


def load_classifier(path: Path) -> DomainClassifier:
    model = DomainClassifier(channels=1, classes=10)
    model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return model.eval()


def class_accuracies(ckpt: Path, classifier: DomainClassifier, per_class: int, seed: int, device: str) -> list[float]:
    family = family_from_checkpoint(load_checkpoint(ckpt), resolve_device(device))
    classes = label_classes(family)
    if not classes:
        raise SystemExit(f"{ckpt} is not a conditional checkpoint (model=cgan); nothing to benchmark")
    generator = torch.Generator().manual_seed(seed)
    scores = []
    for k in range(classes):
        inputs, _ = conditional_inputs(family, per_class, k, generator)
        images = generate_batched(family, inputs, batch_size=500)  # the classifier resizes to its size
        scores.append((predict(classifier, images) == k).float().mean().item())
    return scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ckpt", type=Path, required=True, help="a model=cgan checkpoint trained on MNIST")
    parser.add_argument("--classifier", type=Path, required=True, help="state_dict from train_classifier.py")
    parser.add_argument("--per-class", type=int, default=1000, help="samples drawn for each label")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--data-root", type=Path, default=default_data_root(), help="MNIST root, for the test set")
    parser.add_argument("--target", type=float, default=0.9)
    args = parser.parse_args()

    classifier = load_classifier(args.classifier)
    test_accuracy = accuracy(classifier, *mnist_split(args.data_root.expanduser(), train=False))
    scores = class_accuracies(args.ckpt, classifier, args.per_class, args.seed, args.device)
    mean = sum(scores) / len(scores)
    print(f"classifier accuracy on the MNIST test set: {test_accuracy:.4f}")
    print(f"samples per class: {args.per_class}  (label=k, seed {args.seed})")
    for k, score in enumerate(scores):
        print(f"  label={k}: {score:.4f}")
    print(f"mean accuracy: {mean:.4f}  target {args.target:.2f}: {'PASS' if mean >= args.target else 'FAIL'}")
    raise SystemExit(0 if mean >= args.target else 1)


if __name__ == "__main__":
    main()

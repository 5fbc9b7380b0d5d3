"""Feature extractors: two that need no download, and Inception, whose weights are downloaded once.

* ``classifier``: a small classifier trained once on the labeled training images (see ``classifier``);
  its 128-d penultimate layer. The standard domain-specific choice on MNIST.
* ``random_conv``: for unlabeled folders, a convolutional network with random weights drawn from a
  fixed seed. Naeem et al. (2020, section 5) show that randomly initialised convolutional embeddings
  keep the ordering of fidelity and diversity scores outside ImageNet's domain, where a pretrained
  network's features are no better informed; they need neither labels, training nor a download. The
  weights are regenerated on every use, and their checksum is part of every cache key, so a PyTorch
  whose generator draws differently can never reuse another's statistics.
* ``inception``: Inception-V3 pool features (2048-d), for FIDs comparable with papers, read from
  ``eval.inception_weights``, or from torch's hub cache, where the first use downloads torch-fidelity's
  release of the file and checks its SHA-256 (see ``gan_cli.metrics.download``).
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import skip_init

from gan_cli.errors import UserError
from gan_cli.metrics.cache import file_checksum
from gan_cli.metrics.classifier import ARCHITECTURE, CLASSIFIER_SIZE, FEATURES, TrainedClassifier
from gan_cli.metrics.download import Download, DownloadFailed, fetch

RANDOM_CONV_SIZE = 64  # images are resized to it; large enough for texture, small enough to be quick
RANDOM_CONV_WIDTHS = (16, 32, 64, 128)
RANDOM_CONV_SEED = 0
RANDOM_CONV_ARCHITECTURE = "conv16-32-64-128-gap/v1"
INCEPTION_FILE = "weights-inception-2015-12-05-6726825d.pth"  # the FID reference weights, as torch-fidelity names them
INCEPTION_ALIASES = ("pt_inception-2015-12-05-6726825d.pth",)  # pytorch-fid's name for them, taken when already cached
INCEPTION_URL = f"https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/{INCEPTION_FILE}"  # as torch-fidelity fetches it
# The whole file's SHA-256 (95,628,359 bytes), checked in full. It was not computed from the file here (no
# network where this was written): it is the value that several unrelated projects pinning these weights
# record, and it begins with the 6726825d that the file's name carries under torch.hub's convention (a
# name ends in the first hex digits of its content's SHA-256), all that torch.hub could check; torch-fidelity
# checks nothing. Were it wrong, every download would stop in one line naming both digests, never pass a
# wrong file.
INCEPTION_SHA256 = "6726825d0af5f729cebd5821db510b11b1cfad8faad88a03f1befd49fb9129b2"
INCEPTION_URL_VARIABLE = "GAN_CLI_INCEPTION_URL"  # a mirror (or a test's server) instead of torch-fidelity's release
INCEPTION_SHA256_VARIABLE = "GAN_CLI_INCEPTION_SHA256"  # the digest that mirror's file must have
INCEPTION_FEATURES = 2048
INCEPTION_SHAPES = {"Conv2d_1a_3x3.conv.weight": (32, 3, 3, 3), "Mixed_7c.branch_pool.conv.weight": (192, 2048, 1, 1), "fc.weight": (1008, 2048)}


@dataclass
class FeatureExtractor:
    """Images in [-1, 1] → features, and everything a score must record about how they were made."""

    name: str  # e.g. "classifier", "random_conv", "inception"
    features: Callable[[torch.Tensor], torch.Tensor]
    dim: int
    checksum: str  # of the weights: part of every cache key
    preprocessing: str  # how images reach the network: part of every cache key
    classify: Optional[Callable[[torch.Tensor], torch.Tensor]] = None  # logits, for class accuracy
    heldout_accuracy: Optional[float] = None

    def short_id(self) -> str:
        """Its name and the start of its weights' checksum: enough to tell two extractors apart in a table."""
        return f"{self.name}:{self.checksum[:8]}"

    def describe(self) -> str:
        accuracy = "" if self.heldout_accuracy is None else f", held-out accuracy {self.heldout_accuracy:.3f}"
        return f"{self.name} ({self.dim}-d, weights {self.checksum[:12]}{accuracy})"


def weights_checksum(module: nn.Module) -> str:
    digest = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


class RandomConvNet(nn.Module):
    """Four 3x3 conv + ReLU + 2x2 average-pool blocks and a global average; He-initialised so that
    activations keep their scale through the depth."""

    def __init__(self, channels: int):
        super().__init__()
        layers: list[nn.Module] = []
        width_in = channels
        for width in RANDOM_CONV_WIDTHS:
            conv = skip_init(nn.Conv2d, width_in, width, 3, padding=1)  # no draws from the global generator
            layers += [conv, nn.ReLU(), nn.AvgPool2d(2)]
            width_in = width
        self.body = nn.Sequential(*layers)
        generator = torch.Generator().manual_seed(RANDOM_CONV_SEED)
        with torch.no_grad():
            for module in self.body:
                if isinstance(module, nn.Conv2d):
                    fan_in = module.weight[0].numel()
                    module.weight.copy_(torch.randn(module.weight.shape, generator=generator) * (2 / fan_in) ** 0.5)
                    module.bias.zero_()
        self.eval().requires_grad_(False)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        resized = F.interpolate(images, size=(RANDOM_CONV_SIZE,) * 2, mode="bilinear", antialias=True, align_corners=False)
        return self.body(resized).mean(dim=(2, 3))


def classifier_extractor(trained: TrainedClassifier) -> FeatureExtractor:
    model = trained.model.eval()
    return FeatureExtractor(
        name="classifier",
        features=model.features,
        dim=FEATURES,
        checksum=weights_checksum(model),
        preprocessing=f"{ARCHITECTURE}, bilinear antialiased to {CLASSIFIER_SIZE}px, [-1, 1]",
        classify=model,
        heldout_accuracy=trained.heldout_accuracy,
    )


def random_conv_extractor(channels: int) -> FeatureExtractor:
    network = RandomConvNet(channels)
    return FeatureExtractor(
        name="random_conv",
        features=network,
        dim=RANDOM_CONV_WIDTHS[-1],
        checksum=weights_checksum(network),
        preprocessing=f"{RANDOM_CONV_ARCHITECTURE}, bilinear antialiased to {RANDOM_CONV_SIZE}px, [-1, 1]",
    )


def inception_weights_path(configured: Optional[str]) -> Path:
    """The configured file, else the one in torch's hub cache, downloaded there on first use."""
    if configured:
        path = Path(configured).expanduser()
        if not path.is_file():
            raise UserError(
                f"eval.inception_weights={configured} does not exist; put {INCEPTION_FILE} (from {INCEPTION_URL}) there, "
                "or leave eval.inception_weights unset to download it into torch's hub cache, "
                "or use eval.extractor=classifier or random_conv"
            )
        return path
    folder = Path(torch.hub.get_dir()) / "checkpoints"
    cached = [folder / name for name in (INCEPTION_FILE, *INCEPTION_ALIASES) if (folder / name).is_file()]
    return cached[0] if cached else download_inception(folder / INCEPTION_FILE)


def inception_source() -> Download:
    """torch-fidelity's release of the weights, unless the environment names a mirror and its digest."""
    url = os.environ.get(INCEPTION_URL_VARIABLE) or INCEPTION_URL
    sha256 = (os.environ.get(INCEPTION_SHA256_VARIABLE) or INCEPTION_SHA256).strip().lower()
    if not re.fullmatch(r"[0-9a-f]{64}", sha256):
        raise UserError(f"{INCEPTION_SHA256_VARIABLE}={sha256} is not a SHA-256; give its 64 hex digits, or unset it")
    return Download(url, sha256)


def download_inception(destination: Path) -> Path:
    """Fetch the weights into ``destination``; a failure is one line saying where to put the file instead."""
    source = inception_source()
    try:
        return fetch(source, destination, "downloading the FID Inception weights")
    except DownloadFailed as failure:
        raise UserError(
            f"no Inception weights at {destination}, and downloading them failed: {failure}. Put {INCEPTION_FILE} "
            f"(from {source.url}) into {destination.parent}, or set eval.inception_weights=PATH, "
            "or use eval.extractor=classifier or random_conv"
        ) from None


def check_inception_file(path: Path) -> None:
    """Refuse any file but the FID Inception weights before torch-fidelity reads it, which it does with
    weights_only=False: a file that loads with weights_only=True holds tensors, never code."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # any bytes at all may be here: unpickling raises many types
        reason = (str(error).splitlines() or [type(error).__name__])[0][:120]
        raise UserError(f"{path} is not the FID Inception weights file {INCEPTION_FILE} ({reason}); replace it") from None
    for key, shape in INCEPTION_SHAPES.items():
        found = getattr(state.get(key) if isinstance(state, dict) else None, "shape", None)
        if found is None or tuple(found) != shape:
            raise UserError(
                f"{path} is not the FID Inception weights file {INCEPTION_FILE} ({key} is {tuple(found) if found else 'missing'}, "
                f"expected {shape}); replace it"
            )


def inception_extractor(configured: Optional[str]) -> FeatureExtractor:
    path = inception_weights_path(configured)
    try:
        from torchmetrics.image.fid import NoTrainInceptionV3
    except ImportError:
        raise UserError("eval.extractor=inception needs torch-fidelity; pip install 'gan-cli[inception]'") from None
    check_inception_file(path)
    network = NoTrainInceptionV3(name="inception-v3-compat", features_list=[str(INCEPTION_FEATURES)], feature_extractor_weights_path=str(path))

    def features(images: torch.Tensor) -> torch.Tensor:
        rgb = images.expand(-1, 3, -1, -1) if images.shape[1] == 1 else images
        return network(rgb.add(1).mul(127.5).round().clamp(0, 255).to(torch.uint8)).reshape(len(images), -1)

    return FeatureExtractor("inception", features, INCEPTION_FEATURES, file_checksum(path), "uint8 RGB, resized to 299px")

"""The adversarial losses and the stabilizers: values and gradient signs on tiny cases, the gradient
penalty on critics whose gradient is known, spectral norm's bound, and each training every family
through the CLI (generator EMA's own unit tests are in test_ema.py)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from conftest import TINY_FAMILIES, TINY_TRAIN, describe, run_cli, run_many
from gan_cli.objectives.losses import AdversarialLoss, gradient_penalty
from translation_data import write_aligned_folder

CONFIDENT_D = (torch.tensor([2.0, 2.0]), torch.tensor([-2.0, -2.0]))  # D right about both batches
FOOLED_D = (torch.tensor([-2.0, -2.0]), torch.tensor([2.0, 2.0]))


@pytest.mark.parametrize("kind", ["non_saturating", "saturating", "lsgan", "hinge", "wgan_gp"])
def test_d_loss_is_lower_when_d_is_right_and_g_gains_by_raising_d_of_its_fakes(kind):
    loss = AdversarialLoss(kind)
    assert loss.discriminator(*CONFIDENT_D) < loss.discriminator(*FOOLED_D)
    fake_out = torch.tensor([0.3, -0.4], requires_grad=True)
    loss.generator(fake_out).backward()
    assert (fake_out.grad < 0).all(), "raising D(G(z)) must lower G's loss"


def test_hinge_and_wasserstein_values():
    assert AdversarialLoss("hinge").discriminator(*CONFIDENT_D) == 0  # both past the margin: nothing to push
    assert AdversarialLoss("hinge").discriminator(torch.tensor([0.5]), torch.tensor([0.5])) == pytest.approx(0.5 + 1.5)
    assert AdversarialLoss("wgan_gp").discriminator(*CONFIDENT_D) == pytest.approx(-4.0)
    assert AdversarialLoss("hinge").generator(torch.tensor([1.0, 3.0])) == pytest.approx(-2.0)


def test_scores_are_logged_as_scores_and_probabilities_as_probabilities():
    assert set(AdversarialLoss("wgan_gp").d_outputs(*CONFIDENT_D)) == {"d/score_real", "d/score_fake"}
    assert AdversarialLoss("wgan_gp").d_scalars == ("loss/d", "d/score_real", "d/score_fake", "loss/gp")
    outputs = AdversarialLoss("non_saturating").d_outputs(*CONFIDENT_D)
    assert outputs["d/real"] == pytest.approx(torch.sigmoid(torch.tensor(2.0)).item())


@pytest.mark.parametrize(("norm", "penalty"), [(1.0, 0.0), (3.0, 4.0)])
def test_the_gradient_penalty_of_a_linear_critic_is_its_norm_less_one_squared(norm, penalty):
    direction = torch.randn(1, 2, 4, 4)
    weight = norm * direction / direction.norm()
    critic = lambda images: (images * weight).flatten(1).sum(1)  # noqa: E731 - gradient is weight everywhere
    real, fake = torch.randn(5, 2, 4, 4), torch.randn(5, 2, 4, 4)
    assert gradient_penalty(critic, real, fake).item() == pytest.approx(penalty, abs=1e-5)


def test_the_penalty_trains_the_critic_and_not_the_generator():
    critic = torch.nn.Linear(3, 1)
    fake = torch.randn(4, 3, requires_grad=True)
    gradient_penalty(lambda x: 3 * critic(x).squeeze(1), torch.randn(4, 3), fake).backward()
    assert critic.weight.grad is not None and critic.weight.grad.abs().sum() > 0
    assert fake.grad is None
    _, scalars = AdversarialLoss("wgan_gp").discriminator_step(lambda x: critic(x).squeeze(1), torch.randn(4, 3), fake)
    assert set(scalars) == {"loss/d", "d/score_real", "d/score_fake", "loss/gp"}


def test_r1_is_zero_where_d_is_constant_and_its_slope_squared_otherwise():
    from gan_cli.objectives.losses import R1Penalty

    real = torch.randn(6, 1, 4, 4)
    flat = lambda images: images.flatten(1).sum(1) * 0 + 3.0  # noqa: E731 - the same score everywhere
    assert R1Penalty(gamma=10, every=1)(flat, real).item() == 0
    weight = torch.randn(1, 1, 4, 4)
    linear = lambda images: (images * weight).flatten(1).sum(1)  # noqa: E731 - gradient is weight everywhere
    expected = 10 / 2 * weight.pow(2).sum().item()
    assert R1Penalty(gamma=10, every=1)(linear, real).item() == pytest.approx(expected, rel=1e-5)
    assert R1Penalty(gamma=10, every=4)(linear, real).item() == pytest.approx(4 * expected, rel=1e-5)  # lazy: weighted by N


def test_lazy_r1_is_due_every_n_d_steps_and_logged_then():
    loss = AdversarialLoss("non_saturating")
    loss.r1.gamma, loss.r1.every = 1.0, 3
    critic = torch.nn.Linear(4, 1)
    logged = [("loss/r1" in loss.discriminator_step(lambda x: critic(x).squeeze(1), torch.randn(2, 4), torch.randn(2, 4))[1]) for _ in range(7)]
    assert logged == [False, False, True, False, False, True, False]
    assert "loss/r1" in loss.d_scalars


TRAINED = {  # every family once, every option at least once; the name lists the options
    "dcgan-wgan_gp-sn-diffaugment-ema": (
        TINY_FAMILIES["dcgan"],
        ["loss=wgan_gp", "model.d_norm=layer", "model.spectral_norm=true", "augment=diffaugment", "model.ema=true"],
    ),
    "cgan-hinge-r1": (TINY_FAMILIES["cgan"], ["loss=hinge", "regularizer.r1_gamma=10", "regularizer.r1_every=2"]),
    "aae-wgan_gp-sn-ema": (TINY_FAMILIES["aae"], ["loss=wgan_gp", "model.spectral_norm=true", "model.ema=true"]),
    "gan-hinge-diffaugment": (TINY_FAMILIES["gan"], ["loss=hinge", "augment=diffaugment", "augment.policy=translation"]),
    "pix2pix-wgan_gp-r1-diffaugment": (
        TINY_FAMILIES["pix2pix"],
        ["loss=wgan_gp", "model.norm=instance", "regularizer.r1_gamma=1", "regularizer.r1_every=1", "augment=diffaugment"],
    ),
    "cyclegan-hinge-sn-ema": (TINY_FAMILIES["cyclegan"], ["loss=hinge", "model.spectral_norm=true", "model.ema=true"]),
}


@pytest.fixture(scope="module")
def loss_runs(tmp_path_factory, fake_mnist_root) -> dict:
    base = tmp_path_factory.mktemp("losses")
    paired = write_aligned_folder(base / "paired", {"train": 8, "val": 2})
    calls = {}
    for name, (family, options) in TRAINED.items():
        args = [a.format(paired=paired) for a in family]
        calls[name] = ("gan-train", [*args, *TINY_TRAIN, "train.batch_size=4", *options, f"data.root={fake_mnist_root}",
                                     "eval.enabled=false", f"hydra.run.dir={base / name}"], base)
    results = run_many(calls)
    return {name: (results[name], base / name) for name in calls}


@pytest.mark.parametrize("name", TRAINED)
def test_every_family_trains_with_each_stabilizer(name, loss_runs):
    result, run_dir = loss_runs[name]
    assert result.returncode == 0, describe(result)
    summary = json.loads((run_dir / "summary.json").read_text())
    assert math.isfinite(summary["loss/d"]) and math.isfinite(summary["d/score_real"])
    assert ("loss/gp" in summary) == ("wgan_gp" in name)
    assert ("loss/r1" in summary) == ("-r1" in name)
    assert summary["grad_norm/d"] > 0 and summary["grad_norm/g"] > 0


def test_spectral_norm_reaches_every_d_and_no_g_and_the_checkpoint_samples(loss_runs, tmp_path):
    for name, critics in (("dcgan-wgan_gp-sn-diffaugment-ema", ["D"]), ("cyclegan-hinge-sn-ema", ["D_target", "D_input"]), ("aae-wgan_gp-sn-ema", ["D"])):
        run_dir = loss_runs[name][1]
        networks = torch.load(run_dir / "checkpoints" / "last.pt", weights_only=True)["networks"]
        for network, weights in networks.items():
            normalised = any(".parametrizations.weight.original" in key for key in weights)
            assert normalised == (network in critics), (name, network)


def test_each_generator_has_its_moving_average_and_gan_sample_draws_from_it_unless_told(loss_runs, tmp_path):
    for name, generators in (("dcgan-wgan_gp-sn-diffaugment-ema", {"G"}), ("cyclegan-hinge-sn-ema", {"G", "F"}), ("aae-wgan_gp-sn-ema", {"E", "G"})):
        networks = torch.load(loss_runs[name][1] / "checkpoints" / "last.pt", weights_only=True)["networks"]
        assert {n.removesuffix("_ema") for n in networks if n.endswith("_ema")} == generators, name
        assert int(networks["G_ema"]["n_averaged"]) == 6  # one update per training step
    ckpt = loss_runs["dcgan-wgan_gp-sn-diffaugment-ema"][1] / "checkpoints" / "last.pt"
    plain = loss_runs["cgan-hinge-r1"][1] / "checkpoints" / "last.pt"
    calls = {
        "average": ("gan-sample", [f"ckpt={ckpt}", f"out={tmp_path / 'average'}"], tmp_path),
        "raw": ("gan-sample", [f"ckpt={ckpt}", f"out={tmp_path / 'raw'}", "ema=false"], tmp_path),
        "missing": ("gan-sample", [f"ckpt={plain}", f"out={tmp_path / 'missing'}", "ema=true"], tmp_path),
    }
    results = run_many(calls)
    assert results["average"].returncode == 0 and results["raw"].returncode == 0, describe(results["raw"])
    average, raw = tmp_path / "average" / "grid_seed0.png", tmp_path / "raw" / "grid_seed0_raw.png"
    assert average.read_bytes() != raw.read_bytes()
    missing = results["missing"]
    assert missing.returncode == 2 and missing.stderr.count("\n") == 1 and "model.ema=true" in missing.stderr, describe(missing)


def test_a_spectrally_normalised_layer_has_a_largest_singular_value_near_one():
    from gan_cli.networks.norm import spectral_normalize

    layer = spectral_normalize(torch.nn.Sequential(torch.nn.Linear(20, 30)))[0]
    with torch.no_grad():
        layer.parametrizations.weight.original.mul_(7)
        for _ in range(30):  # one power iteration per training-mode forward
            layer(torch.randn(2, 20))
    assert torch.linalg.matrix_norm(layer.weight, ord=2).item() == pytest.approx(1.0, abs=1e-3)


def test_wgan_gp_takes_five_critic_steps_unless_told(loss_runs):
    saved = torch.load(loss_runs["dcgan-wgan_gp-sn-diffaugment-ema"][1] / "checkpoints" / "last.pt", weights_only=True)
    assert saved["config"]["train"]["d_steps"] == 5 and saved["config"]["loss"]["gp_weight"] == 10.0


BAD = {
    "batchnorm-critic": (["model=dcgan", "loss=wgan_gp"], "loss=wgan_gp needs a D without BatchNorm", "model.d_norm=none"),
    "smoothing-without-labels": (["loss=hinge", "loss.real_label=0.9"], "loss.real_label=0.9 smooths the real label", "loss=hinge"),
    "unknown-loss": (["loss=wgan"], "unknown loss 'wgan'", "wgan_gp"),
    "diffaugment-on-codes": (["model=aae", "augment=diffaugment"], "model=aae's D sees latent codes", "drop augment="),
    "unknown-transform": (["augment=diffaugment", "augment.policy='color,zoom'"], "unknown transform 'zoom'", "color, translation, cutout"),
    "ema-decay": (["model.ema=true", "model.ema_decay=1"], "model.ema_decay=1.0 must be in (0, 1)", "model.ema_decay=0.999"),
}


@pytest.fixture(scope="module")
def bad_choice_results(tmp_path_factory) -> tuple[dict, Path]:
    """Every case of BAD through the real gan-train, side by side; each has its own run directory."""
    base = tmp_path_factory.mktemp("bad_choices")
    return run_many({case: ("gan-train", [*BAD[case][0], f"hydra.run.dir={base / case}"], base) for case in BAD}), base


@pytest.mark.parametrize("case", BAD)
def test_each_bad_loss_choice_is_one_line(case, bad_choice_results):
    results, base = bad_choice_results
    result, expected = results[case], BAD[case][1:]
    assert result.returncode == 2 and result.stderr.count("\n") == 1, describe(result)
    assert all(text in result.stderr for text in expected), describe(result)
    assert not (base / case).exists()


def test_help_says_what_each_loss_does_and_when_to_use_it(tmp_path):
    result = run_cli("gan-train", "--help", cwd=tmp_path)
    losses = result.stdout.split("Losses (loss=...):")[1].split("\n\n")[0]
    for name in ("non_saturating", "saturating", "lsgan", "hinge", "wgan_gp"):
        assert f"\n  {name} " in losses, losses
    assert "5 D steps, no BatchNorm in D" in losses

"""The training core: ``train(cfg, run_dir)`` builds a run, steps it and returns its summary.

``train()`` → ``train_step()`` runs the family's phases; ``Upkeep`` does everything periodic (scalars,
grids, checkpoints, progress) in one place.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import signal
import time
from pathlib import Path
from typing import Any, Iterator, Optional

import torch
from omegaconf import DictConfig, OmegaConf
from rich.console import Console

from gan_cli.config import AugmentName, NanPolicy, check_config, learning_rates
from gan_cli.data import BatchStream, DataRequest, TrainingData, build_dataset
from gan_cli.device.distributed import any_rank, barrier, check_batch_divides, from_main
from gan_cli.device.runtime import Runtime, make_runtime, resolve_device, seed_everything
from gan_cli.device.shard import SINGLE_PROCESS, Shard
from gan_cli.errors import UserError, describe_os_error
from gan_cli.families import FAMILIES, DataInfo, Family, load_families
from gan_cli.families.base import Phase, Scalars, gradient_norm_name
from gan_cli.families.translation import TranslationFamily
from gan_cli.metrics.quality import QualityScorer, RealImages, build_scorer, describe_source, scores_samples, too_few_real
from gan_cli.metrics.semantic import translation_judges
from gan_cli.metrics.translation import FID_MIN_IMAGES, TranslationJudges
from gan_cli.objectives.augment import augment_inputs, parse_policy
from gan_cli.objectives.losses import R1Penalty
from gan_cli.training.checkpoint import load_checkpoint
from gan_cli.training.compiling import compile_networks, eager, eager_networks, first_line, wants_compile
from gan_cli.training.ema import attach_averages, update_averages
from gan_cli.training.parallel import parallel_phases, sync_batchnorm
from gan_cli.training.progress import WorkTracker, output_console, say
from gan_cli.training.resume import check_changes, config_changes, restore_run
from gan_cli.training.run import TrainingRun, checkpoint_payload, resolve_best_metric
from gan_cli.training.signals import StopRequests, TrainingInterrupted
from gan_cli.training.tracker_base import SweepJob
from gan_cli.training.upkeep import FollowerUpkeep, Upkeep

GRID_SEED = 1234  # the fixed latents for sample grids do not depend on the training seed


class TrainingDiverged(UserError):
    """A loss went NaN or Inf and the nan policy is to stop."""


def build_family(model_cfg, data: DataInfo, cfg: DictConfig, shard: Shard = SINGLE_PROCESS) -> Family:
    load_families()
    family = FAMILIES.get(model_cfg.name)(model_cfg, data, cfg.loss, cfg.train.d_steps)
    family.shard = shard
    if cfg.device.sync_bn and shard.distributed:
        sync_batchnorm(family, resolve_device(cfg.device.type))  # before the EMA copies G
    family.adversarial.r1 = R1Penalty(cfg.regularizer.r1_gamma, cfg.regularizer.r1_every)
    attach_averages(family, model_cfg, cfg.train.batch_size)
    if AugmentName(cfg.augment.name) is AugmentName.diffaugment:
        augment_critics(family, cfg.augment.policy)
    return family


def augment_critics(family: Family, policy: str) -> None:
    transforms = parse_policy(policy)
    if not family.critic_sees_images:
        raise UserError(f"augment=diffaugment transforms images, and model={family.model_cfg.name}'s D sees latent codes; drop augment=")
    for name in family.critic_names():
        augment_inputs(family.networks[name], transforms)


def build_optimizers(family: Family, optimizer_cfg) -> dict[str, torch.optim.Optimizer]:
    rates = learning_rates(optimizer_cfg)
    betas = (optimizer_cfg.beta1, optimizer_cfg.beta2)
    optimizers = {}
    for name, spec in family.optimizers().items():
        parameters = [p for net in spec.networks for p in family.networks[net].parameters()]
        # fused: one kernel for all parameters; measured ~5x faster than the default step on the CPU
        optimizers[name] = torch.optim.Adam(parameters, lr=rates[spec.role], betas=betas, fused=True)
    return optimizers


def count_steps(train_cfg, batches_per_epoch: int) -> int:
    if train_cfg.epochs is None:
        return train_cfg.steps
    # Each step draws d_steps batches, so an epoch holds fewer steps when k > 1.
    return max(1, train_cfg.epochs * batches_per_epoch // train_cfg.d_steps)


def load_dataset(cfg: DictConfig) -> TrainingData:
    """The configured data at the model's size, with at least one full batch."""
    load_families()
    family_class = FAMILIES.get(cfg.model.name)
    request = DataRequest(cfg.model.image_size, cfg.train.batch_size, family_class.trains_on_pairs)
    try:
        dataset = build_dataset(cfg.data, request)
    except OSError as error:  # unreadable, too long a name, a cache folder that cannot be written
        raise UserError(f"cannot read the data ({describe_os_error(error)}); check data.path and data.root") from None
    family_class.check_data(cfg.model.name, dataset.info())
    if len(dataset) < cfg.train.batch_size:
        raise UserError(
            f"the dataset has {len(dataset)} images, fewer than train.batch_size={cfg.train.batch_size}; "
            "lower train.batch_size or add images"
        )
    return dataset


def sample_scorer(cfg: DictConfig, dataset: TrainingData, family: Family, console: Console) -> Optional[QualityScorer]:
    """The scorer of samples against the training images, for a family that draws from a latent."""
    if not scores_samples(cfg.eval, family, len(dataset)):
        if cfg.eval.enabled and family.latent_dim is not None:
            say(console, too_few_real(cfg.eval, family, len(dataset)))
        return None
    images, labels = dataset.scoring_images()
    real = RealImages(images, labels, dataset.num_classes, describe_source(cfg.data))
    with console.status("preparing the sample-quality metrics (trained or read from eval.cache_dir)"):
        scorer = build_scorer(cfg.eval, real, cfg.data, WorkTracker(console))
    say(console, f"scoring {scorer.num_samples} samples against {len(scorer.real)} images of the {real.source} with {scorer.extractor.describe()}")
    return scorer


def translation_judges_for(cfg: DictConfig, dataset: TrainingData, heldout, family: Family, console: Console) -> Optional[TranslationJudges]:
    """The FID and class-accuracy judges of a translation family's held-out scores (None for other families)."""
    if not (cfg.eval.enabled and isinstance(family, TranslationFamily) and heldout is not None):
        return None
    fewest = min(len(heldout.input), len(heldout.target))
    if fewest < FID_MIN_IMAGES:
        raise UserError(
            f"held-out translations are scored by FID, which needs at least {FID_MIN_IMAGES} images of each domain, and "
            f"the {heldout.split} split gives {fewest}; raise eval.num_samples (0: all), add images to that split, or set eval.enabled=false"
        )
    with console.status("preparing the translation metrics (classifiers trained or read from eval.cache_dir)"):
        judges = translation_judges(cfg.eval, dataset, heldout, family.has_cycle, WorkTracker(console))
    say(console, f"judging translations with {judges.target.extractor.describe()}")
    return judges


def build_run(
    cfg: DictConfig,
    run_dir: Path,
    dataset: Optional[TrainingData] = None,
    console: Optional[Console] = None,
    recorded_precision: Optional[str] = None,
    shard: Shard = SINGLE_PROCESS,
) -> TrainingRun:
    """Check the config, load the data (unless given), build the family, its optimizers, the fixed
    grid inputs and the scorer; ``recorded_precision`` is a resumed checkpoint's, ``shard`` this
    process's place in data-parallel training."""
    check_config(cfg)
    check_batch_divides(cfg.train.batch_size, shard.world_size)
    console = console or output_console()
    runtime = agreed_runtime(cfg.device, recorded_precision, shard)  # a probe, if any, draws no random numbers
    say(console, f"training on {runtime.device.type} in {runtime.precision_choice.describe()}")
    seed_everything(cfg.train.seed, cfg.train.deterministic)
    dataset = dataset if dataset is not None else load_dataset(cfg)
    family = build_family(cfg.model, dataset.info(), cfg, shard)
    best_metric = resolve_best_metric(cfg, family, len(dataset))
    scorer = sample_scorer(cfg, dataset, family, console) if shard.is_main else None
    family.networks.to(device=runtime.device, memory_format=runtime.memory_format)
    stream = BatchStream(dataset.to(runtime.device), cfg.train.batch_size, cfg.train.seed, runtime.memory_format, shard)
    heldout = dataset.heldout(cfg.eval.num_samples)
    judges = translation_judges_for(cfg, dataset, heldout, family, console) if shard.is_main else None
    grid = family.grid_inputs(cfg.train.num_samples, torch.Generator().manual_seed(GRID_SEED), heldout)
    compile_step = compile_if_wanted(family, cfg.device.compile, runtime.device)
    return TrainingRun(
        cfg=cfg,
        run_dir=run_dir,
        runtime=runtime,
        family=family,
        phases=parallel_phases(family.phases(), family, runtime.device) if shard.distributed else family.phases(),
        compiled=compile_step,
        shard=shard,
        optimizers=build_optimizers(family, cfg.optimizer),
        stream=stream,
        grid=grid,
        total_steps=count_steps(cfg.train, stream.batches_per_epoch),
        scaler=runtime.grad_scaler(),
        heldout=heldout if cfg.eval.enabled and shard.is_main else None,
        scorer=scorer,
        judges=judges,
        best_metric=best_metric,
    )


def compile_if_wanted(family: Family, setting, device: torch.device) -> bool:
    """torch.compile the family's networks where ``device.compile`` asks for it; the gradient
    penalties stay eager, since compiled graphs have no double backward."""
    if not wants_compile(setting, device):
        return False
    compile_networks(family)
    family.adversarial.penalty_context = functools.partial(eager, family)
    return True


def agreed_runtime(device_cfg, recorded_precision: Optional[str], shard: Shard) -> Runtime:
    """The runtime; in data-parallel training every rank takes the precision rank 0 chose (or measured)."""
    if not shard.distributed:
        return make_runtime(device_cfg, recorded_precision)
    main = make_runtime(device_cfg, recorded_precision, shard.local_rank) if shard.is_main else None
    chosen = from_main(main.precision.value if main else None)
    return main or make_runtime(device_cfg, chosen, shard.local_rank)


def set_trainable(family: Family, trained: tuple[str, ...]) -> None:
    """Only the phase's networks get gradients; the rest are frozen inputs to its loss."""
    for name, network in family.networks.items():
        network.requires_grad_(name in trained)


def set_learning_rates(run: TrainingRun) -> None:
    """The configured rates under the schedule, for the step about to run; a resumed run's rates
    follow from its step and the current config, never from the saved optimizer state."""
    rates = learning_rates(run.cfg.optimizer, run.step, run.total_steps)
    for name, spec in run.family.optimizers().items():
        for group in run.optimizers[name].param_groups:
            group["lr"] = rates[spec.role]


def train_step(run: TrainingRun) -> Scalars:
    """One G update and the phases around it (k D updates first, each on a fresh batch)."""
    set_learning_rates(run)
    batch = next(run.stream)
    scalars: Scalars = {}
    for phase in run.phases:
        set_trainable(run.family, phase.trains + phase.records)
        for repeat in range(phase.repeats):
            if repeat:
                batch = next(run.stream)
            with run.runtime.autocast():
                loss, phase_scalars = phase.loss(batch)
            gradient_norm = apply_update(run, phase, loss)
            if gradient_norm is None:
                continue
            scalars.update(phase_scalars)
            scalars[gradient_norm_name(phase)] = gradient_norm
    update_averages(run.family)
    return scalars


def apply_update(run: TrainingRun, phase: Phase, loss: torch.Tensor) -> Optional[torch.Tensor]:
    """Backpropagate and step the phase's optimizer; returns the norm of the gradient it stepped
    with, or None when a non-finite loss skipped the update (or raises, as train.nan_policy says)."""
    if not torch.isfinite(loss):
        if run.cfg.train.nan_policy == NanPolicy.skip:
            run.skipped_steps += 1
            return None
        last = run.checkpoint_dir / "last.pt"
        kept = f"the last good checkpoint is {last}" if last.is_file() else "no checkpoint was written yet"
        raise TrainingDiverged(
            f"step {run.step + 1}: phase '{phase.name}' loss is {loss.item()}; {kept}. "
            "Lower optimizer.lr and resume, or set train.nan_policy=skip"
        )
    optimizer = run.optimizers[phase.optimizer]
    optimizer.zero_grad(set_to_none=True)
    if run.scaler is None:
        loss.backward()
        norm = gradient_norm(optimizer)
        optimizer.step()
    else:
        run.scaler.scale(loss).backward()
        run.scaler.unscale_(optimizer)  # the norm of the true gradient, not the scaled one
        norm = gradient_norm(optimizer)
        run.scaler.step(optimizer)
        run.scaler.update()
    return norm


def gradient_norm(optimizer: torch.optim.Optimizer) -> torch.Tensor:
    """The L2 norm of all the gradients an optimizer is about to apply (the seed's vanishing-gradient
    plots: the saturating loss starves G)."""
    gradients = [p.grad for group in optimizer.param_groups for p in group["params"] if p.grad is not None]
    return torch.nn.utils.get_total_norm(gradients).detach()


def train(
    cfg: DictConfig,
    run_dir: Path,
    console: Optional[Console] = None,
    dataset: Optional[TrainingData] = None,
    shard: Shard = SINGLE_PROCESS,
    sweep: Optional[SweepJob] = None,
) -> dict[str, Any]:
    """Train as configured, writing artifacts into ``run_dir``; returns the run's final figures.

    ``dataset`` is the data already loaded from ``cfg.data``, when the caller checked it up front;
    ``shard`` is this process's place in data-parallel training (rank 0 returns the figures and
    alone tracks the run); ``sweep``, the multirun job this run is, groups a sweep's tracker runs."""
    started = time.perf_counter()
    console = console or output_console()
    saved = load_checkpoint(cfg.resume) if cfg.resume else None
    run = build_run(cfg, Path(run_dir), dataset, console, saved.get("precision") if saved else None, shard)
    if saved is not None:
        resume_from(run, saved, Path(cfg.resume), console)
    keeper = Upkeep if shard.is_main else FollowerUpkeep  # rank 0 alone writes
    with StopRequests() as stop, keeper(run, console, sweep) as upkeep, contextlib.closing(run.stream):
        upkeep.start(setup_s=time.perf_counter() - started)
        trial = run.compiled  # the first compiled step may fall back to eager
        while run.step < run.total_steps:
            with out_of_memory_as_user_error(run):
                scalars = first_compiled_step(run, console) if trial else train_step(run)
            trial = False
            run.step += 1
            upkeep.after_step(scalars)
            # Every rank takes part in the vote each step, so they all stop after the same step.
            stop_now = any_rank(stop.requested, run.runtime.device) if shard.distributed else stop.requested
            if stop_now:
                checkpoint = upkeep.save_checkpoint(periodic=False, wait=True)
                barrier()  # every rank waits for rank 0's checkpoint before it exits
                raise TrainingInterrupted(stop.signum or signal.SIGTERM, run.step, checkpoint)
        summary = upkeep.finish()
    barrier()
    return summary


def first_compiled_step(run: TrainingRun, console: Console) -> Scalars:
    """The first step of compiled phases, where torch.compile does its work: if that fails, one
    warning line, and the step runs again eager from the state it started in."""
    saved = copy.deepcopy(checkpoint_payload(run, {}))
    try:
        return train_step(run)
    except UserError:
        raise
    except Exception as error:  # Dynamo, Inductor and a missing C++ compiler raise many types
        eager_networks(run.family)
        torch._dynamo.reset()
        run.family.handed_on.clear()
        restore_run(run, saved)
        run.compiled = False
        warning = f"warning: torch.compile failed ({first_line(error)}); training eager instead (device.compile=false skips the attempt)"
        say(console, warning)
        return train_step(run)


@contextlib.contextmanager
def out_of_memory_as_user_error(run: TrainingRun) -> Iterator[None]:
    """The pre-flight sizes the weights, not the activations, which grow with the batch and the image
    size; an allocation that fails in a step is reported as the input problem it is."""
    try:
        yield
    except (torch.OutOfMemoryError, MemoryError, RuntimeError) as error:
        if isinstance(error, RuntimeError) and "can't allocate memory" not in str(error):
            raise
        raise UserError(
            f"out of {run.runtime.device.type} memory in step {run.step + 1}; lower train.batch_size, "
            "model.image_size or the model's widths"
        ) from None


def resume_from(run: TrainingRun, payload: dict[str, Any], checkpoint: Path, console: Console) -> None:
    """Restore a saved state into the freshly built run, refusing config changes that cannot apply."""
    current = OmegaConf.to_container(run.cfg, resolve=True, enum_to_str=True)
    changes = check_changes(config_changes(payload["config"], current), checkpoint)
    restore_run(run, payload)
    say(console, f"resuming from {checkpoint} at step {run.step} of {run.total_steps}")
    for change in changes:
        say(console, f"  changed {change}")

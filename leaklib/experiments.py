"""One attack experiment end to end: batch -> server's model -> client update(s) -> labels -> inversion -> scores.

``leaklib attack`` and the notebooks run the same computation through :func:`run_experiment`, so a
notebook's trial and a command-line run agree. An :class:`Experiment` holds every choice as a plain value
(several updates of one batch, a dishonest server and wrong labels included), and :func:`attack_trial`
runs a sweep trial given as one flat dict of such values, so that a sweep's key hashes every setting.
The steps are public too (:func:`prepare`, :func:`observe`, :func:`attack_labels`, :func:`score`).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from .attack import AttackConfig, AttackResult, invert
from .data import Batch, ImageDataset, load_dataset, make_batch
from .errors import LeaklibError, check_choice, check_positive
from .fl import (
    SERVERS,
    SETTINGS,
    VARY,
    Observation,
    fedavg_update,
    fedsgd_update,
    gradient_norm,
    local_updates,
    server_model,
)
from .leakage import above_bar, leakage_scores
from .metrics import batch_metrics
from .models import build
from .runtime import provenance, resolve_device


@dataclass(frozen=True)
class Experiment:
    """What the client holds and does, and what the attacker knows about labels (all plain values).

    The batch is ``indices`` of ``dataset``, or ``batch_size`` images drawn with ``pattern`` (``make_batch``).
    ``setting`` fedsgd shares one gradient; fedavg runs ``epochs`` local epochs of SGD (batch ``local_batch``,
    default all images; lr ``local_lr``). ``labels``: ``known``, ``joint`` (optimised with the images, DLG) or
    a label rule's name; ``wrong_labels`` replaces that many by another class (Geng et al., RQ2).
    ``updates`` > 1 (fedavg): the client sends that many updates of the batch (``vary``: successive rounds,
    learning rates or shuffles; :func:`leaklib.fl.local_updates`), attacked jointly (Geng et al., RQ3).
    ``server``: ``honest`` sends the model as built; ``flip`` is the dishonest server that swaps the first
    image's class with the next in the last layer (:func:`leaklib.fl.flip_labels`, Geiping et al., appendix).
    """

    dataset: str = "cifar10-sample"
    indices: tuple[int, ...] | None = (0,)
    pattern: str = "unique"
    batch_size: int | None = None
    augment: bool = False
    model: str = "resnet20-4"
    trained: bool = False
    checkpoint: str | None = None
    padding: str = "zeros"
    model_seed: int = 0
    setting: str = "fedsgd"
    epochs: int = 1
    local_batch: int | None = None
    local_lr: float = 1e-2
    client_bn: str = "eval"
    labels: str = "known"
    wrong_labels: int = 0
    updates: int = 1
    vary: str = "rounds"
    server: str = "honest"
    data_root: str | None = None

    def __post_init__(self) -> None:
        check_choice("setting", self.setting, SETTINGS)
        check_choice("vary", self.vary, VARY)
        check_choice("server", self.server, SERVERS)
        check_positive("updates", self.updates)
        if self.updates > 1 and self.setting != "fedavg":
            raise LeaklibError(f"updates={self.updates} needs setting='fedavg' (several FedAvg updates of one batch), "
                               f"got setting={self.setting!r}")
        if self.indices is None and self.batch_size is None:
            raise LeaklibError("give the batch as indices or as batch_size with a pattern")
        if self.indices is not None:
            object.__setattr__(self, "indices", tuple(int(i) for i in self.indices))
        check_positive("epochs", self.epochs)
        check_positive("local_lr", self.local_lr, integer=False)
        check_positive("wrong_labels", self.wrong_labels, allow_zero=True)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["indices"] = list(self.indices) if self.indices is not None else None
        return d


@dataclass
class ExperimentResult:
    """An experiment's record (JSON-ready), its batch, the aligned reconstruction in [0,1] and the attack."""

    record: dict[str, Any]
    batch: Batch
    recon01: Tensor  # reconstructions reordered to match batch.images01
    attack: AttackResult
    classes: list[str]  # the dataset's class names


def prepare(exp: Experiment, seed: int = 0) -> tuple[ImageDataset, Batch, nn.Module]:
    """Load the dataset, draw the batch and build the model the server sends (``exp.server``)."""
    dataset = load_dataset(exp.dataset, exp.data_root)
    if exp.indices is not None:
        batch = make_batch(dataset, len(exp.indices), indices=list(exp.indices))
    else:
        batch = make_batch(dataset, exp.batch_size, exp.pattern, seed, augment=exp.augment)
    model = build(exp.model, num_classes=dataset.num_classes, padding=exp.padding, trained=exp.trained,
                  checkpoint=exp.checkpoint, seed=exp.model_seed, dataset=dataset.name,
                  image_shape=dataset.image_shape)
    model = server_model(exp.server, model, int(batch.labels[0]), dataset.num_classes)
    return dataset, batch, model


def observe(exp: Experiment, model: nn.Module, images: Tensor, labels: Tensor) -> Observation | list[Observation]:
    """What the server sees from the client: its FedSGD gradient, its FedAvg weight update, or ``updates`` of them."""
    if exp.setting == "fedsgd":
        return fedsgd_update(model, images, labels, bn=exp.client_bn)
    if exp.updates > 1:
        return local_updates(model, images, labels, exp.updates, vary=exp.vary, epochs=exp.epochs,
                             batch_size=exp.local_batch, lr=exp.local_lr, bn=exp.client_bn)
    return fedavg_update(model, images, labels, epochs=exp.epochs, batch_size=exp.local_batch,
                         lr=exp.local_lr, bn=exp.client_bn)


def wrong_labels(labels: Tensor, count: int, num_classes: int) -> Tensor:
    """``labels`` with the first ``count`` replaced by the next class (mod C): a known, wrong label set."""
    if count > len(labels):
        raise LeaklibError(f"wrong_labels={count} but the batch has only {len(labels)} labels")
    out = labels.clone()
    out[:count] = (out[:count] + 1) % num_classes
    return out


def first_update(observation: Observation | list[Observation]) -> Observation:
    """The observation itself, or the first of several updates (what label rules and norms read)."""
    return observation[0] if isinstance(observation, list) else observation


def attack_labels(exp: Experiment, model: nn.Module, observation: Observation | list[Observation], batch: Batch,
                  seed: int = 0) -> Tensor | str:
    """The labels the attacker uses: known, ``"joint"``, or recovered by a rule (from the first update); then
    ``wrong_labels``."""
    observation = first_update(observation)
    if exp.labels == "joint":
        if exp.wrong_labels:
            raise LeaklibError("wrong_labels needs given labels (known or a rule), not labels='joint'")
        return "joint"
    if exp.labels == "known":
        labels = batch.labels
    else:
        from .labels import list_rules, recover_labels, rule_options

        if exp.labels not in list_rules():
            raise LeaklibError(f"unknown label rule {exp.labels!r}; valid labels: known, joint, {', '.join(list_rules())}")
        known = {"image_shape": tuple(batch.images.shape[1:]), "normalization": batch.normalization}
        opts = {k: v for k, v in known.items() if k in rule_options(exp.labels)}
        labels = recover_labels(exp.labels, model, observation, len(batch), seed=seed, true_labels=batch.labels,
                                **opts)
    return wrong_labels(labels, exp.wrong_labels, batch.num_classes) if exp.wrong_labels else labels


def score(result: AttackResult, batch: Batch) -> tuple[dict[str, Any], Tensor]:
    """Aligned metrics of a reconstruction (Geng et al.'s label-aware alignment) and the aligned images."""
    recon01 = batch.normalization.denormalize(result.images.cpu()).clamp(0, 1)
    metrics = batch_metrics(recon01, batch.images01, result.labels.cpu(), batch.labels)
    return metrics, recon01[torch.as_tensor(metrics["permutation"])]


def run_experiment(
    exp: Experiment,
    config: AttackConfig,
    *,
    device: str | torch.device = "auto",
    seed: int = 0,
    progress: bool = False,
    checkpoint_path: str | os.PathLike | None = None,
    keep_images: bool = False,
) -> ExperimentResult:
    """Run one attack experiment; the record holds aligned PSNR/SSIM/MSE, label accuracy and provenance.

    Per image (aligned, in batch order): ``per_image`` metrics, ``per_image_margin`` (SSIM over the image's
    own 4 x 4 blur) and ``per_image_bar`` (:func:`leaklib.leakage.above_bar`); ``observed_norm`` is the
    l2 norm of the (first) observed update. ``keep_images`` stores the aligned reconstruction in the record as 8-bit nested lists
    (``record["recon_uint8"]``), so that a sweep's JSON records can redraw their grids.
    """
    device = resolve_device(device)
    dataset, batch, model = prepare(exp, seed)
    observation = observe(exp, model, batch.images, batch.labels)
    labels = attack_labels(exp, model, observation, batch, seed)
    result = invert(model, observation, labels, config, image_shape=dataset.image_shape, num_images=len(batch),
                    normalization=batch.normalization, device=device, seed=seed, progress=progress,
                    checkpoint_path=checkpoint_path)
    metrics, recon01 = score(result, batch)
    bar = leakage_scores(batch.images01, recon01)
    record: dict[str, Any] = {
        "psnr": metrics["psnr"], "ssim": metrics["ssim"], "mse": metrics["mse"],
        "label_accuracy": metrics["label_accuracy"], "seconds": result.seconds, "iterations": result.iterations,
        "loss": result.loss, "per_image": metrics["per_image"],
        "per_image_margin": [b.ssim_over_blur for b in bar], "per_image_bar": [above_bar(b) for b in bar],
        "observed_norm": gradient_norm(first_update(observation)), "indices": list(batch.indices),
        "true_labels": batch.labels.tolist(), "attack_labels": result.labels.tolist(),
        "dataset": exp.dataset, "model": exp.model, "trained": bool(getattr(model, "trained", exp.trained)),
        "setting": exp.setting, "labels": exp.labels, "method": config.method, "seed": seed,
        "fedavg": {"epochs": exp.epochs, "local_batch": exp.local_batch or len(batch), "local_lr": exp.local_lr,
                   "updates": exp.updates, "vary": exp.vary} if exp.setting == "fedavg" else None,
        "server": exp.server,
        "augmented": bool(batch.augmented), "experiment": exp.to_dict(), "config": config.to_dict(),
        "attack": result.to_dict(include_images=False), "provenance": provenance(device, seed),
    }
    if keep_images:
        record["recon_uint8"] = (recon01 * 255).round().to(torch.uint8).tolist()
    return ExperimentResult(record=record, batch=batch, recon01=recon01, attack=result, classes=dataset.classes)


def stored_image_bar(res: ExperimentResult) -> dict[str, list[bool]]:
    """``per_image_bar`` scored on the 8-bit reconstruction the record stores (what the figures show), for
    :func:`attack_trial`'s ``extra``: notebooks 04, 05 and 07 were calibrated on it (the record's own
    ``per_image_bar`` scores the float reconstruction; the two differ only within 8-bit rounding of the bar)."""
    return {"per_image_bar": [above_bar(s) for s in leakage_scores(res.batch.images01, record_images(res.record))]}


def record_images(record: dict[str, Any]) -> Tensor:
    """The aligned reconstruction stored by ``run_experiment(..., keep_images=True)``, in [0,1]."""
    if "recon_uint8" not in record:
        raise LeaklibError("this record holds no images; run the experiment with keep_images=True")
    return torch.tensor(record["recon_uint8"], dtype=torch.float32) / 255


EXPERIMENT_KEYS = frozenset(f.name for f in dataclasses.fields(Experiment)) - {"data_root"}
CONFIG_KEYS = frozenset(f.name for f in dataclasses.fields(AttackConfig)) - {"method"}
TRIAL_KEYS = EXPERIMENT_KEYS | CONFIG_KEYS | {"image", "recipe", "seed"}
SUMMARY_KEYS = ("psnr", "ssim", "mse", "label_accuracy", "seconds", "iterations", "loss", "indices", "true_labels",
                "attack_labels", "per_image_margin", "per_image_bar", "observed_norm", "recon_uint8")


def attack_trial(trial: Mapping[str, Any], *, device: str | torch.device = "auto", data_root: str | None = None,
                 tags: Iterable[str] = (), extra: Callable[[ExperimentResult], Mapping[str, Any]] | None = None
                 ) -> dict[str, Any]:
    """Run one sweep trial described by plain values alone, so that its key hashes every setting.

    Keys: :class:`Experiment` fields, :class:`~leaklib.attack.AttackConfig` fields (overrides of the preset
    ``recipe``, default ``ig``), ``seed`` (batch and attack seed, default 0), ``image`` (short for
    ``indices=(image,)``) and the names in ``tags`` (labels of the trial that the run ignores, e.g. an arm's
    name). Any other key is an error: a setting the run would not use must not split or merge records.
    Returns the record's summary (:data:`SUMMARY_KEYS`, ``per_image_psnr``/``per_image_ssim`` and the aligned
    reconstruction as 8-bit lists) updated with ``extra(result)`` (a notebook's own scores).
    """
    unknown = sorted(set(trial) - TRIAL_KEYS - set(tags))
    if unknown:
        raise LeaklibError(f"trial key(s) {unknown} are not settings of an attack trial; use Experiment fields, "
                           f"AttackConfig fields, 'image', 'recipe', 'seed', or declare them in tags=")
    fields = {k: v for k, v in trial.items() if k in EXPERIMENT_KEYS}
    if "image" in trial:
        if "indices" in trial:
            raise LeaklibError("give a trial's batch as 'image' or as 'indices', not both")
        fields["indices"] = (trial["image"],)
    exp = Experiment(**fields, data_root=data_root)
    config = AttackConfig.preset(trial.get("recipe", "ig"), **{k: v for k, v in trial.items() if k in CONFIG_KEYS})
    res = run_experiment(exp, config, device=device, seed=int(trial.get("seed", 0)), keep_images=True)
    out = {k: res.record[k] for k in SUMMARY_KEYS}
    out["per_image_psnr"] = [p["psnr"] for p in res.record["per_image"]]
    out["per_image_ssim"] = [p["ssim"] for p in res.record["per_image"]]
    if extra is not None:
        out.update(extra(res))
    return out

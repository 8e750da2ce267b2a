"""The graded exercises of the course, as data: per notebook, *implement it* (a piece of a paper's method,
graded by :mod:`leaklib.course.checks` against leaklib's own on random inputs) and *experiment* (change a knob,
answer with a number, graded against the range that running this solution over seeds measured:
:mod:`leaklib.course.ranges`).

``solution`` is the code of the student's cell: the part between ``### BEGIN SOLUTION`` and ``### END
SOLUTION`` is what nbgrader strips from the student release. An experiment's solution runs in the notebook's
kernel after the notebook, so it may use ``cfg`` (the notebook's knobs), ``seed``, ``device`` and ``data_root``;
it must set ``answer`` to a number. :func:`leaklib.course.ranges.measure` runs the same code outside the notebook.
"""

from __future__ import annotations

from dataclasses import dataclass

KINDS = ("implement", "experiment")


@dataclass(frozen=True)
class Exercise:
    """One graded exercise: its notebook, grade id, kind, points, the task (markdown) and the solution cell."""

    notebook: str
    id: str
    kind: str
    points: int
    task: str
    solution: str
    check: str = ""  # implement: the leaklib.course.checks function that grades it

    @property
    def answer(self) -> str:
        """The variable an experiment's answer is stored in (unique over the course)."""
        return f"answer_{self.id}"


def _implement(notebook: str, id: str, task: str, solution: str, check: str, points: int = 2) -> Exercise:
    return Exercise(notebook, id, "implement", points, task, solution.strip("\n"), check)


def _experiment(notebook: str, id: str, task: str, solution: str, points: int = 1) -> Exercise:
    return Exercise(notebook, id, "experiment", points, task, solution.strip("\n"))


EXERCISES: tuple[Exercise, ...] = (
    # ------------------------------------------------------------------ 01
    _implement("01_duplicate_label_recovery", "geng_counts", """
**Implement Geng et al.'s count formula (eq. 8).** Given the last layer's weight gradient `dW` (C x F), the mean
softmax `p` (C,) and the mean feature sum `O` of dummy inputs, and the batch size `K`, return the (unrounded)
estimated count of every class, `n_c = K p_c - K S_c / O`, where `S_c` is the sum of row `c` of `dW`.""", """
def geng_counts(dW, p, O, K):
    ### BEGIN SOLUTION
    return K * p - K * dW.sum(1) / O
    ### END SOLUTION
""", "check_geng_counts"),
    _experiment("01_duplicate_label_recovery", "yin_dup4", """
**Experiment.** Run the label benchmark on batches of `K = 10` with one label four times (`pattern="dup:4"`,
the notebook's `label_model`, `label_trials` trials, Fashion-MNIST). Store `yin`'s mean label accuracy in
`answer_yin_dup4`. (It cannot exceed 0.7: why?)""", """
from leaklib.labels import label_accuracy_table

table = label_accuracy_table("fashion-mnist", cfg["label_model"], batch_size=10, pattern="dup:4",
                             trials=cfg["label_trials"], rules="yin", seed=1000 * seed)
answer_yin_dup4 = table["rules"]["yin"]["label_accuracy"]
"""),
    # ------------------------------------------------------------------ 02
    _implement("02_same_class_fusion", "align", """
**Implement Geng et al.'s label-aware alignment.** Pair each true image `i` with a reconstruction: a label that
occurs exactly once among the true labels *and* once among the reconstructions' labels pairs those two images;
the rest are paired by a Hungarian assignment that maximises the summed PSNR
(`scipy.optimize.linear_sum_assignment`, `leaklib.metrics.psnr`). Return `perm`, a list with `recon[perm[i]]`
aligned to `true[i]`.""", """
def align_batch(recon, true, recon_labels, true_labels):
    ### BEGIN SOLUTION
    from collections import Counter

    import numpy as np
    from scipy.optimize import linear_sum_assignment

    from leaklib.metrics import psnr

    n = len(true)
    perm = [-1] * n
    rc, tc = Counter(recon_labels), Counter(true_labels)
    for i, label in enumerate(true_labels):
        if tc[label] == 1 and rc[label] == 1:
            perm[i] = recon_labels.index(label)
    free_true = [i for i in range(n) if perm[i] < 0]
    free_recon = [j for j in range(n) if j not in set(perm)]
    scores = np.array([[float(psnr(recon[j:j + 1], true[i:i + 1]).clamp(max=100)) for j in free_recon]
                       for i in free_true])
    if free_true:
        rows, cols = linear_sum_assignment(scores, maximize=True)
        for r, c in zip(rows, cols):
            perm[free_true[r]] = free_recon[c]
    return perm
    ### END SOLUTION
""", "check_align"),
    _experiment("02_same_class_fusion", "fusion_8", """
**Experiment.** Attack one same-class batch of **8** images (class `same_classes[0]`, batch seed `1000 * seed`,
the notebook's recipe) and store the mean `fusion_over_blur` of its reconstructions in `answer_fusion_8`. Is it
larger than for the batches of 4 above?""", """
import numpy as np

from leaklib.experiments import attack_trial
from leaklib.leakage import fusion_scores

trial = {"indices": None, "batch_size": 8, "pattern": f"counts:{{{cfg['same_classes'][0]}:8}}", "seed": 1000 * seed,
         **{k: cfg[k] for k in ("dataset", "model", "recipe", "iterations", "tv", "restarts")}}
result = attack_trial(trial, device=device, data_root=data_root,
                      extra=lambda res: fusion_scores(res.recon01, res.batch.images01))
answer_fusion_8 = float(np.mean(result["fusion_over_blur"]))
"""),
    # ------------------------------------------------------------------ 03
    _implement("03_trained_vs_untrained", "cosine_distance", """
**Implement the objective of Inverting Gradients (eq. 4).** Return `1 - <g, t> / (|g| |t|)` for two flat
gradient vectors (a 0-d tensor). Why does this, unlike DLG's Euclidean distance, ignore the gradient's length?""", """
def cosine_distance(g, t):
    ### BEGIN SOLUTION
    return 1 - (g @ t) / (g.norm() * t.norm())
    ### END SOLUTION
""", "check_cosine_distance"),
    _experiment("03_trained_vs_untrained", "trained_ig_bar", """
**Experiment.** Attack the trained twin (`twins[1]`) with the published recipe (`recipe="ig"`, TV 1e-4) for
`ig_iterations` iterations on the first two of the notebook's images (attack seed `1000 * seed`). How many of the
two reconstructions are above the bar? Store the count in `answer_trained_ig_bar`.""", """
from leaklib.experiments import attack_trial

model, _, flag = cfg["twins"][1].partition("+")  # e.g. "lenet-zhu+trained"
answer_trained_ig_bar = 0
for image in cfg["images"][:2]:
    result = attack_trial({"dataset": cfg["dataset"], "model": model, "trained": flag == "trained", "image": image,
                           "recipe": "ig", "iterations": cfg["ig_iterations"], "seed": 1000 * seed},
                          device=device, data_root=data_root)
    answer_trained_ig_bar += sum(result["per_image_bar"])
"""),
    # ------------------------------------------------------------------ 04
    _implement("04_width_depth", "total_variation", """
**Implement total variation**, the image prior of Inverting Gradients: for a batch `x` of shape (N, C, H, W),
the mean absolute difference of vertically neighbouring pixels plus that of horizontally neighbouring pixels.""", """
def total_variation(x):
    ### BEGIN SOLUTION
    return (x[..., 1:, :] - x[..., :-1, :]).abs().mean() + (x[..., :, 1:] - x[..., :, :-1]).abs().mean()
    ### END SOLUTION
""", "check_total_variation"),
    _experiment("04_width_depth", "width_gain_image4", """
**Experiment.** Attack image 4 (not one of the notebook's) on ResNet20-1 and on ResNet20-2 with the notebook's
recipe and budget (attack seed `1000 * seed`). Store PSNR(width 2) - PSNR(width 1) in `answer_width_gain_image4`.""", """
from leaklib.experiments import attack_trial

psnr = {w: attack_trial({"dataset": cfg["dataset"], "model": f"resnet20-{w}", "image": 4, "seed": 1000 * seed,
                         **{k: cfg[k] for k in ("recipe", "iterations", "restarts", "tv")}},
                        device=device, data_root=data_root)["psnr"] for w in (1, 2)}
answer_width_gain_image4 = psnr[2] - psnr[1]
"""),
    # ------------------------------------------------------------------ 05
    _implement("05_fedavg_epochs", "pseudo_gradient", """
**Implement Geng et al.'s FedAvg target.** From a client's weight update `update` (a dict of tensors
`w_T - w_0`), its local learning rate `lr` and number of local steps `steps`, return the pseudo-gradient
`(w_0 - w_T) / (lr * steps)` as a dict with the same keys.""", """
def pseudo_gradient(update, lr, steps):
    ### BEGIN SOLUTION
    return {name: -u / (lr * steps) for name, u in update.items()}
    ### END SOLUTION
""", "check_pseudo_gradient"),
    _experiment("05_fedavg_epochs", "pseudo_minus_unroll", """
**Experiment.** Attack the first of the notebook's images after **8** local epochs at local learning rate
0.01, once matching Geng's pseudo-gradient (`fedavg="pseudo"`) and once unrolling the local steps
(`fedavg="unroll"`), attack seed `1000 * seed`. Store PSNR(pseudo) - PSNR(unroll) in
`answer_pseudo_minus_unroll`. (At local learning rate 0.1 the two are equal: print the update's norm after 1 and
after 8 epochs to see why.)""", """
from leaklib.experiments import attack_trial

shape = {"setting": "fedavg", "image": cfg["images"][0], "epochs": 8, "local_lr": 0.01,
         "seed": 1000 * seed, **{k: cfg[k] for k in ("dataset", "model", "local_batch", "recipe", "iterations", "tv")}}
psnr = {f: attack_trial({**shape, "fedavg": f}, device=device, data_root=data_root)["psnr"] for f in ("pseudo", "unroll")}
answer_pseudo_minus_unroll = psnr["pseudo"] - psnr["unroll"]
"""),
    # ------------------------------------------------------------------ 06
    _implement("06_label_errors", "idlg_label", """
**Implement iDLG's label rule.** For one image, the last layer's weight gradient `dW` (C x F) has row sums
`(p_c - y_c) |h|_1`: only the true class's is negative. Return that class as an `int`.""", """
def idlg_label(dW):
    ### BEGIN SOLUTION
    return int(dW.sum(1).argmin())
    ### END SOLUTION
""", "check_idlg"),
    _experiment("06_label_errors", "two_wrong", """
**Experiment.** Attack the notebook's first batch (batch seed `1000 * seed + seeds[0]`) with the true labels and
with **two** wrong labels (`wrong_labels=2`). Store PSNR(two wrong) - PSNR(none wrong) in `answer_two_wrong`.""", """
from leaklib.experiments import attack_trial

shape = {"indices": None, "seed": 1000 * seed + cfg["seeds"][0],
         **{k: cfg[k] for k in ("dataset", "model", "batch_size", "pattern", "recipe", "iterations", "tv", "restarts")}}
psnr = {w: attack_trial({**shape, "wrong_labels": w}, device=device, data_root=data_root)["psnr"] for w in (0, 2)}
answer_two_wrong = psnr[2] - psnr[0]
"""),
    # ------------------------------------------------------------------ 07
    _implement("07_multiple_updates", "several_updates", """
**Implement the objective for several updates of one batch** (Geng et al., RQ3): given lists `gs` and `ts` of
flat simulated and observed updates, return the mean over the updates of the cosine distance
`1 - <g, t> / (|g| |t|)`.""", """
def several_updates_distance(gs, ts):
    ### BEGIN SOLUTION
    return sum(1 - (g @ t) / (g.norm() * t.norm()) for g, t in zip(gs, ts)) / len(gs)
    ### END SOLUTION
""", "check_several_updates"),
    _experiment("07_multiple_updates", "vary_lr_gain", """
**Experiment.** On the notebook's first batch (batch seed `1000 * seed + seeds[0]`), attack 4 updates that differ
by their local learning rate (`updates=4, vary="lr"`) and 1 update, both for `iterations` iterations. Store
PSNR(4 updates) - PSNR(1 update) in `answer_vary_lr_gain`.""", """
from leaklib.experiments import attack_trial

shape = {"setting": "fedavg", "indices": None, "pattern": "unique", "seed": 1000 * seed + cfg["seeds"][0],
         **{k: cfg[k] for k in ("dataset", "model", "batch_size", "local_batch", "local_lr", "recipe", "iterations", "tv")}}
psnr = {u: attack_trial({**shape, "updates": u, **({"vary": "lr"} if u > 1 else {})}, device=device,
                        data_root=data_root)["psnr"] for u in (1, 4)}
answer_vary_lr_gain = psnr[4] - psnr[1]
"""),
    # ------------------------------------------------------------------ 08
    _implement("08_analytic_and_dishonest", "linear_input", """
**Implement Prop. 3.1.** A linear layer `y = W x + b` with loss gradient `dW` (out x in) and `db` (out,) of one
input: `dW = db x^T`. Return `x` (in,) from the row with the largest `|db_i|`.""", """
def linear_input(dW, db):
    ### BEGIN SOLUTION
    i = int(db.abs().argmax())
    return dW[i] / db[i]
    ### END SOLUTION
""", "check_linear_input"),
    _experiment("08_analytic_and_dishonest", "lstsq_batch4", """
**Experiment.** Give the notebook's MLP (model seed `seed`) one gradient of a batch of the first **four**
`linear_images` and recover the first layer's input with `recover_linear_input(..., rows="lstsq")`. Store the
largest PSNR of the recovered input to any of the four images in `answer_lstsq_batch4`.""", """
from leaklib.attack import first_linear, recover_linear_input
from leaklib.data import load_dataset, make_batch
from leaklib.fl import fedsgd_update
from leaklib.metrics import psnr
from leaklib.models import build

data = load_dataset(cfg["dataset"], data_root)
net = build(cfg["mlp"], data.num_classes, seed=seed, image_shape=data.image_shape)
batch = make_batch(data, 4, indices=list(cfg["linear_images"][:4]))
x = recover_linear_input(fedsgd_update(net, batch.images, batch.labels), *first_linear(net), rows="lstsq",
                         image_shape=data.image_shape)
x01 = batch.normalization.denormalize(x[None]).clamp(0, 1)
answer_lstsq_batch4 = float(psnr(x01.expand_as(batch.images01), batch.images01).max())
"""),
    # ------------------------------------------------------------------ 09
    _implement("09_large_batch", "bar", """
**Implement the leakage bar** (docs/LEAKAGE_BAR.md): a reconstruction leaks its image when its SSIM to the image
is at least the SSIM of the image's own 4 x 4 block blur (`leaklib.leakage.blur_baseline(true)`) to the image
(`leaklib.metrics.ssim`, per image). Return one bool per image of the batch.""", """
def above_the_bar(recon, true):
    ### BEGIN SOLUTION
    from leaklib.leakage import blur_baseline
    from leaklib.metrics import ssim

    return [bool(r >= b) for r, b in zip(ssim(recon, true).tolist(), ssim(blur_baseline(true), true).tolist())]
    ### END SOLUTION
""", "check_bar"),
    _experiment("09_large_batch", "bar_16", """
**Experiment.** Attack a batch of **16** with random labels (`pattern="random"`, as above; batch seed
`1000 * seed + seeds[0]`, the notebook's recipe). Store the fraction of its images above the bar in
`answer_bar_16`.""", """
import numpy as np

from leaklib.experiments import attack_trial

trial = {"indices": None, "pattern": "random", "batch_size": 16, "seed": 1000 * seed + cfg["seeds"][0],
         **{k: cfg[k] for k in ("dataset", "model", "recipe", "iterations", "tv", "restarts")}}
answer_bar_16 = float(np.mean(attack_trial(trial, device=device, data_root=data_root)["per_image_bar"]))
"""),
)


def exercises(notebook: str | None = None) -> list[Exercise]:
    """The exercises of ``notebook`` (all when None), in course order."""
    return [e for e in EXERCISES if notebook is None or e.notebook == notebook]

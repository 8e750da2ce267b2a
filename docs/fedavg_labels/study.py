"""Why Geng's label counts fail on FedAvg updates of a batch of 64, and how much `geng-path` recovers.

Untrained LeNet(Zhu) (a fresh init per trial), Fashion-MNIST test batches of 64 with random labels, one local
epoch. Per (local batch, local lr): the last layer's pseudo-gradient against the true FedSGD gradient at w_0
(cosine, relative error) and the label accuracy of `geng` and `geng-path`, mean over 5 trials.
Run: python docs/fedavg_labels/study.py   (about 2 minutes on 2 cores; writes docs/fedavg_labels/table.md)
"""

from pathlib import Path

import torch

from leaklib.data import load_dataset, make_batch
from leaklib.fl import fedavg_update, fedsgd_update
from leaklib.io import write_text
from leaklib.labels import last_layer, recover_labels
from leaklib.metrics import label_accuracy
from leaklib.models import build

K, TRIALS = 64, 5
SETTINGS = [(64, 0.01), (16, 0.01), (8, 0.01), (4, 0.01), (4, 0.001), (16, 0.001), (4, 0.1)]


def cosine(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a * b).sum() / (a.norm() * b.norm()))


ds = load_dataset("fashion-mnist")
lines = ["| local batch | lr | steps | lr x steps | cos(pseudo-grad, grad) | rel. error | geng | geng-path |",
         "|---|---|---|---|---|---|---|---|"]
for local_batch, lr in SETTINGS:
    cos, err, acc = [], [], {"geng": [], "geng-path": []}
    for trial in range(TRIALS):
        batch = make_batch(ds, K, "random", trial)
        net = build("lenet-zhu", ds.num_classes, seed=trial, image_shape=ds.image_shape)
        name = last_layer(net).weight_name
        grad = fedsgd_update(net, batch.images, batch.labels).gradient[name]
        obs = fedavg_update(net, batch.images, batch.labels, epochs=1, batch_size=local_batch, lr=lr)
        pseudo = obs.pseudo_gradient()[name]
        cos.append(cosine(pseudo, grad))
        err.append(float((pseudo - grad).norm() / grad.norm()))
        for rule in acc:
            pred = recover_labels(rule, net, obs, K, seed=trial, image_shape=ds.image_shape)
            acc[rule].append(label_accuracy(pred, batch.labels))
    steps = K // local_batch
    mean = lambda v: sum(v) / len(v)  # noqa: E731
    lines.append(f"| {local_batch} | {lr:g} | {steps} | {lr * steps:g} | {mean(cos):.3f} | {mean(err):.3f} | "
                 f"{mean(acc['geng']):.3f} | {mean(acc['geng-path']):.3f} |")
    print(lines[-1], flush=True)
write_text(Path(__file__).with_name("table.md"), "\n".join(lines) + "\n")

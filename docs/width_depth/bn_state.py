"""04's depth study: what the untrained ResNets' batch-norm state does to the gradient and to the attack.

Held-out data only: Fashion-MNIST test images 103, 128, 200, 300 (no claim uses them); running statistics
are estimated on 512 images of the *train* split. Three states of the same untrained network:
  init   eval mode, running statistics at their initial values (mean 0, var 1): what 04 attacks
  train  batch statistics of the image itself (client and attacker both in train mode)
  calib  eval mode, running statistics estimated on the 512 train images (a server that has seen data)

  python docs/width_depth/bn_state.py state            # softmax, gradient norm, gradient cosines (~1 min)
  python docs/width_depth/bn_state.py attack calib     # ig-fast 500 it on ResNet-20-2 / ResNet-32-2 (~6 min)
  python docs/width_depth/bn_state.py attack train
"""

from __future__ import annotations

import json
import sys

import torch
import torch.nn.functional as F
from torch.optim.swa_utils import update_bn

from leaklib.attack import AttackConfig, invert
from leaklib.attack.objectives import flatten
from leaklib.data import load_dataset
from leaklib.experiments import Experiment, observe, prepare, score
from leaklib.fl import parameter_gradient, split_state
from leaklib.leakage import above_bar, leakage_scores
from leaklib.models import build

IMAGES = [103, 128, 200, 300]
STATES = ("init", "train", "calib")
train_split = load_dataset("fashion-mnist", split="train")
pick = torch.randperm(len(train_split), generator=torch.Generator().manual_seed(0))[:512].tolist()
public = train_split.normalization.normalize(train_split.uint8_stack(pick).float() / 255)


def calibrate(model: torch.nn.Module) -> torch.nn.Module:
    """Running statistics re-estimated as the plain average over the public images (torch's ``update_bn``)."""
    with torch.no_grad():
        update_bn(public.split(128), model)
    return model.eval()


def flat_gradient(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The client's FedSGD gradient dL/dw as one vector (the model's own batch-norm mode)."""
    params, buffers = split_state(model)
    return flatten(parameter_gradient(model, params, buffers, x, y), list(params))


def state() -> None:
    test = load_dataset("fashion-mnist")
    xs = test.normalization.normalize(test.uint8_stack(IMAGES).float() / 255)
    ys = test.labels[IMAGES]
    for name in ("resnet20-1", "resnet20-2", "resnet20-4", "resnet32-2"):
        for seed in range(6):
            for bn in STATES:
                model = build(name, num_classes=10, seed=seed, dataset="fashion-mnist", image_shape=(1, 28, 28))
                model = calibrate(model) if bn == "calib" else model.train(bn == "train")
                gen = torch.Generator().manual_seed(seed)
                row = {"model": name, "seed": seed, "bn": bn, "pmax": [], "norm": [], "cos_noise_0.1": [],
                       "cos_noise_0.5": [], "cos_random": []}
                for j in range(len(IMAGES)):
                    x, y = xs[j:j + 1], ys[j:j + 1]
                    with torch.no_grad():
                        row["pmax"].append(F.softmax(model(x), 1).max().item())
                    g0 = flat_gradient(model, x, y)
                    row["norm"].append(g0.norm().item())
                    for key, other in (("cos_noise_0.1", x + 0.1 * torch.randn(x.shape, generator=gen)),
                                       ("cos_noise_0.5", x + 0.5 * torch.randn(x.shape, generator=gen)),
                                       ("cos_random", torch.randn(x.shape, generator=gen))):
                        row[key].append(F.cosine_similarity(g0, flat_gradient(model, other, y), 0).item())
                print(json.dumps({k: (round(sum(v) / len(v), 3) if isinstance(v, list) else v)
                                  for k, v in row.items()}), flush=True)


def attack(bn: str) -> None:
    config = AttackConfig.preset("ig-fast", iterations=500, bn_mode="train" if bn == "train" else "eval")
    for seed in (4, 5):
        for name in ("resnet20-2", "resnet32-2"):
            for image in IMAGES:
                exp = Experiment(dataset="fashion-mnist", indices=(image,), model=name, model_seed=seed,
                                 client_bn="train" if bn == "train" else "eval")
                dataset, batch, model = prepare(exp, seed)
                if bn == "calib":
                    model = calibrate(model)
                observation = observe(exp, model, batch.images, batch.labels)
                result = invert(model, observation, batch.labels, config, image_shape=dataset.image_shape,
                                num_images=1, normalization=batch.normalization, device="cpu", seed=seed)
                metrics, recon01 = score(result, batch)
                bar = leakage_scores(batch.images01, recon01)[0]
                print(json.dumps({"bn": bn, "model": name, "seed": seed, "image": image,
                                  "psnr": round(metrics["psnr"], 2), "ssim": round(metrics["ssim"], 3),
                                  "above_bar": above_bar(bar), "loss": round(result.loss, 4),
                                  "s": round(result.seconds, 1)}), flush=True)


if __name__ == "__main__":
    state() if sys.argv[1] == "state" else attack(sys.argv[2])

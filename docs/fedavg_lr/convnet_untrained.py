"""Probe (session 13): does the local learning rate move 05's reconstructions on an untrained ReLU ConvNet?
Fashion-MNIST test images 100-103 only (no claim uses them); FedAvg, local batch 1, unrolled, ig-fast."""
import json
import sys
import time

from leaklib.experiments import attack_trial, stored_image_bar

model, iterations, tv = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
grid = json.loads(sys.argv[4])  # [[epochs, lr], ...]
images = json.loads(sys.argv[5]) if len(sys.argv) > 5 else [100, 101]
extra_keys = json.loads(sys.argv[6] if len(sys.argv) > 6 else "{}")
RECIPE = extra_keys.pop("recipe", "ig-fast")
shape = {"setting": "fedavg", "dataset": "fashion-mnist", "model": model, "local_batch": 1, "fedavg": "unroll",
         "recipe": RECIPE, "iterations": iterations, "tv": tv, **extra_keys}
for epochs, lr in grid:
    for i in images:
        t0 = time.time()
        r = attack_trial({"image": i, "epochs": epochs, "local_lr": lr, "seed": 0, **shape}, device="cpu",
                         data_root=None, extra=stored_image_bar)
        print(json.dumps({"model": model, "it": iterations, "tv": tv, "epochs": epochs, "lr": lr, "image": i,
                          "psnr": round(r["psnr"], 2), "ssim": round(r["ssim"], 3), "bar": r["per_image_bar"],
                          "s": round(time.time() - t0, 1)}), flush=True)

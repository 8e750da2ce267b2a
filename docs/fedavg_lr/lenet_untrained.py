import json
import time

from leaklib.experiments import attack_trial, stored_image_bar

shape = {"setting": "fedavg", "dataset": "fashion-mnist", "model": "lenet-zhu", "local_batch": 1, "fedavg": "unroll",
         "recipe": "ig-fast", "iterations": 600, "tv": 1e-2}
for lr in [1e-3, 1e-1, 0.3, 1.0, 3.0]:
    for i in [100, 101]:
        t0 = time.time()
        r = attack_trial({"image": i, "epochs": 2, "local_lr": lr, "seed": 0, **shape}, device="cpu", data_root=None, extra=stored_image_bar)
        print(json.dumps({"lr": lr, "image": i, "psnr": round(r["psnr"], 2), "ssim": round(r["ssim"], 3),
                          "bar": r["per_image_bar"], "s": round(time.time() - t0, 1)}), flush=True)

import json
import time

from leaklib.experiments import attack_trial, stored_image_bar

base = {"setting": "fedavg", "dataset": "fashion-mnist", "local_batch": 1, "fedavg": "unroll", "recipe": "ig-fast", "iterations": 500}
runs = [dict(model="lenet-zhu", trained=True, tv=1e-2, local_lr=lr) for lr in (1e-3, 1e-1, 1.0)]
runs += [dict(model="resnet20-2", tv=2e-3, local_lr=lr) for lr in (1e-3, 1e-1, 1.0)]
for kw in runs:
    for i in [100, 101]:
        t0 = time.time()
        r = attack_trial({"image": i, "epochs": 2, "seed": 0, **base, **kw}, device="cpu", data_root=None, extra=stored_image_bar)
        print(json.dumps({**kw, "image": i, "psnr": round(r["psnr"], 2), "ssim": round(r["ssim"], 3),
                          "bar": r["per_image_bar"], "s": round(time.time() - t0, 1)}), flush=True)

"""04's width 1 -> 2 step on held-out data: 500 iterations x 1 restart against 1,000 x 2 (restarts one by one).

Fashion-MNIST test images 103, 128, 200, 300 and network seeds 4, 5 (no claim uses them). The rule was fixed
before the run: calibrate 1,000 x 2 for 04's width study only if ResNet-20-2 is above the bar on at least 7 of
the 8 image-network pairs and beats ResNet-20-1 on at least 6, both more than at 500 x 1.

  python docs/width_depth/width_step.py      # ~15 min on 2 CPU cores; records in runs/width_step
"""

from leaklib.experiments import attack_trial, stored_image_bar
from leaklib.runs import load_flat, run_sweep

SHAPE = {"dataset": "fashion-mnist", "recipe": "ig-fast", "tv": 2e-3}
BUDGETS = {"500x1": {"iterations": 500, "restarts": 1}, "1000x2": {"iterations": 1000, "restarts": 2, "batched": False}}
PAIRS = [(s, i) for s in (4, 5) for i in (103, 128, 200, 300)]

for name, budget in BUDGETS.items():
    trials = [{"image": i, "model": m, "model_seed": s, "seed": s, **SHAPE, **budget}
              for s, i in PAIRS for m in ("resnet20-1", "resnet20-2")]
    run_sweep(trials, lambda t: attack_trial(t, device="cpu", extra=stored_image_bar), "runs/width_step", desc=name)
    by = {(r["model"], r["model_seed"], r["image"]): r for r in load_flat("runs/width_step", trials)}
    gains = bar1 = bar2 = 0
    for s, i in PAIRS:
        w1, w2 = by[("resnet20-1", s, i)], by[("resnet20-2", s, i)]
        gains += w2["psnr"] > w1["psnr"]
        bar1 += w1["per_image_bar"][0]
        bar2 += w2["per_image_bar"][0]
        print(f"{name} seed {s} img {i}: w1 {w1['psnr']:.2f}/{w1['ssim']:.2f}{'*' if w1['per_image_bar'][0] else ' '} "
              f"w2 {w2['psnr']:.2f}/{w2['ssim']:.2f}{'*' if w2['per_image_bar'][0] else ' '}", flush=True)
    print(f"== {name}: 1->2 gain positive {gains}/8, above bar w1 {bar1}/8 w2 {bar2}/8", flush=True)

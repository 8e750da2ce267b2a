"""04's depth pair at width 4 on held-out data: ResNet-20-4 against ResNet-32-4, one restart.

Fashion-MNIST test images 103, 128, 200, 300 and network seeds 4, 5 (no claim uses them). The rule was fixed
before each run: calibrate `depth_width=4` (and at 1,000, `depth_iterations=1000`) only if both networks are
above the bar on at least 7 of the 8 pairs and ResNet-20-4 minus ResNet-32-4 is under 2 dB (the claim's own
threshold) on average and on most pairs (at 1,000: on at least 5 of 8).

  python docs/width_depth/depth_width4.py [ITERATIONS]   # 500 (default): ~12 min on 2 CPU cores; 1000: ~24 min
"""

import sys

from leaklib.experiments import attack_trial, stored_image_bar
from leaklib.runs import load_flat, run_sweep

ITERATIONS = int(sys.argv[1]) if len(sys.argv) > 1 else 500
SHAPE = {"dataset": "fashion-mnist", "recipe": "ig-fast", "tv": 2e-3, "iterations": ITERATIONS, "restarts": 1}
PAIRS = [(s, i) for s in (4, 5) for i in (103, 128, 200, 300)]
OUT = "runs/depth_width4"  # the records' keys hash the iterations, so both budgets share the folder

trials = [{"image": i, "model": m, "model_seed": s, "seed": s, **SHAPE}
          for s, i in PAIRS for m in ("resnet20-4", "resnet32-4")]
run_sweep(trials, lambda t: attack_trial(t, device="cpu", extra=stored_image_bar), OUT, desc=f"width 4, {ITERATIONS} it")
by = {(r["model"], r["model_seed"], r["image"]): r for r in load_flat(OUT, trials)}
diffs, bar20, bar32 = [], 0, 0
for s, i in PAIRS:
    a, b = by[("resnet20-4", s, i)], by[("resnet32-4", s, i)]
    diffs.append(a["psnr"] - b["psnr"])
    bar20 += a["per_image_bar"][0]
    bar32 += b["per_image_bar"][0]
    print(f"w4 seed {s} img {i}: r20 {a['psnr']:.2f}/{a['ssim']:.2f}{'*' if a['per_image_bar'][0] else ' '} "
          f"r32 {b['psnr']:.2f}/{b['ssim']:.2f}{'*' if b['per_image_bar'][0] else ' '} "
          f"s {a['seconds']:.0f}/{b['seconds']:.0f}", flush=True)
print(f"== w4: r20-r32 mean {sum(diffs) / len(diffs):+.2f} dB, under 2 dB on {sum(d < 2 for d in diffs)}/8, "
      f"above bar r20 {bar20}/8 r32 {bar32}/8", flush=True)

"""Re-make the reconstructions judged in docs/LEAKAGE_BAR.md (about 6 minutes on 2 CPU cores).

    python docs/leakage_bar/study.py OUT_DIR

Every run is one ``leaklib`` attack (known labels, seed 0, 2 threads) on images that no notebook claim
uses: cifar10-sample 16-19 and Fashion-MNIST test images 100 and 101. Prints one JSON line per run (PSNR,
SSIM, the blur baseline's SSIM, the bar's verdict) and writes OUT_DIR/<tag>.png.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import torch

from leaklib.attack import AttackConfig
from leaklib.experiments import Experiment, run_experiment
from leaklib.io import save_figure
from leaklib.leakage import above_bar, leakage_scores
from leaklib.plots import reconstruction_grid

RUNS = [  # tag, dataset, indices, model, trained, method, iterations, overrides
    *[(f"cifar_{i}_lenet_2000", "cifar10-sample", [i], "lenet-zhu", False, "ig-fast", 2000, {}) for i in (16, 17, 18, 19)],
    ("cifar_17_lenet_tv1e-2_4000", "cifar10-sample", [17], "lenet-zhu", False, "ig-fast", 4000, {"tv": 1e-2}),
    ("cifar_16-17_lenet_3000", "cifar10-sample", [16, 17], "lenet-zhu", False, "ig-fast", 3000, {}),
    ("cifar_16-17_lenet_tv1e-2_4000", "cifar10-sample", [16, 17], "lenet-zhu", False, "ig-fast", 4000, {"tv": 1e-2}),
    ("cifar_16-17_lenet_tv5e-2_4000", "cifar10-sample", [16, 17], "lenet-zhu", False, "ig-fast", 4000, {"tv": 5e-2}),
    ("cifar_16-19_lenet_3000", "cifar10-sample", [16, 17, 18, 19], "lenet-zhu", False, "ig-fast", 3000, {}),
    *[(f"fmnist_{i}_{'trained' if tr else 'untrained'}_tv{tv:g}", "fashion-mnist", [i], "lenet-zhu", tr, "ig-fast",
       2000, {"tv": tv}) for i in (100, 101) for tr in (False, True) for tv in (2e-3, 1e-2)],
    *[(f"fmnist_{i}_{'trained' if tr else 'untrained'}_dlg", "fashion-mnist", [i], "lenet-zhu", tr, "dlg", 1500, {})
      for i in (100, 101) for tr in (False, True)],
]


def main(out: Path) -> None:
    torch.set_num_threads(2)
    for tag, dataset, indices, model, trained, method, iterations, overrides in RUNS:
        start = time.perf_counter()
        exp = Experiment(dataset=dataset, indices=tuple(indices), model=model, trained=trained, labels="known")
        result = run_experiment(exp, AttackConfig.preset(method, iterations=iterations, **overrides), seed=0)
        scores = leakage_scores(result.batch.images01, result.recon01)
        print(json.dumps({"tag": tag, "seconds": round(time.perf_counter() - start, 1),
                          "psnr": [round(s.psnr, 2) for s in scores], "ssim": [round(s.ssim, 3) for s in scores],
                          "ssim_blur": [round(s.ssim_blur_baseline, 3) for s in scores],
                          "above_bar": [above_bar(s) for s in scores]}), flush=True)
        fig = reconstruction_grid(result.batch.images01, result.recon01, psnrs=[s.psnr for s in scores], title=tag)
        save_figure(fig, out / f"{tag}.png")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(Path(sys.argv[1]))

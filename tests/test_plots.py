"""Figures render to PNG with sensible sizes (Agg backend)."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.image as mpimg  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from leaklib.errors import LeaklibError  # noqa: E402
from leaklib.io import save_figure  # noqa: E402
from leaklib.plots import comparison_grid, reconstruction_grid, sweep_plot, table_figure  # noqa: E402


def render(fig, path):
    save_figure(fig, path)
    plt.close(fig)
    img = mpimg.imread(path)
    return img.shape[:2]  # (height, width) in pixels


def images(n, c=3, seed=0):
    return torch.rand(n, c, 16, 16, generator=torch.Generator().manual_seed(seed))


def test_grid_one_image(tmp_path):
    fig = reconstruction_grid(images(1), images(1, seed=1), psnrs=[12.345], labels=[3], class_names=list("abcd"))
    texts = [ax.get_xlabel() for ax in fig.axes] + [ax.get_title() for ax in fig.axes]
    assert "12.35 dB" in texts and "d" in texts
    h, w = render(fig, tmp_path / "one.png")
    assert 80 < w < 600 and 120 < h < 800 and h > w


def test_grid_wraps_many_images_and_grayscale(tmp_path):
    fig = reconstruction_grid(images(23, c=1), images(23, c=1, seed=1), psnrs=[10.0] * 23, title="batch of 23")
    assert len(fig.axes) == 2 * 3 * 10  # three wrapped groups of 10 columns, true + recon rows
    visible = [ax for ax in fig.axes if ax.axison]
    assert len(visible) == 2 * 23
    assert visible[0].images[0].get_cmap().name == "gray"
    h, w = render(fig, tmp_path / "many.png")
    assert 900 < w < 2500 and 0.5 * w < h < w


def test_grid_hundred_images(tmp_path):
    fig = reconstruction_grid(images(100), images(100, seed=2))
    h, w = render(fig, tmp_path / "hundred.png")
    assert w < 2500 and h < 5000 and h > w


def test_grid_frames_the_marked_reconstructions():
    fig = reconstruction_grid(images(3), images(3, seed=1), marked=[True, False, True])
    framed = [ax.spines["top"].get_linewidth() == 3 for ax in fig.axes]
    assert framed == [False, False, False, True, False, True]  # the recon row only, images 0 and 2
    with pytest.raises(LeaklibError, match="marked has 1 entries"):
        reconstruction_grid(images(3), images(3), marked=[True])


def test_grid_rejects_mismatches():
    with pytest.raises(LeaklibError, match="differ in shape"):
        reconstruction_grid(images(2), images(3))
    with pytest.raises(LeaklibError, match="one per image"):
        reconstruction_grid(images(2), images(2), psnrs=[1.0])
    with pytest.raises(LeaklibError, match="C = 1 or 3"):
        reconstruction_grid(torch.rand(2, 5, 4, 4), torch.rand(2, 5, 4, 4))


RECORDS = [
    {"width": w, "trained": t, "psnr": 10 + w + 0.5 * i + (3 if t else 0)}
    for w in (1, 2, 4) for t in (False, True) for i in range(3)
]


@pytest.mark.parametrize("kind", ["line", "box", "bar"])
def test_sweep_plot_kinds(tmp_path, kind):
    fig = sweep_plot(RECORDS, "width", "psnr", hue="trained", kind=kind, title=kind, ylabel="PSNR [dB]")
    ax = fig.axes[0]
    assert ax.get_ylabel() == "PSNR [dB]" and ax.get_title() == kind
    assert ax.get_legend() is not None
    h, w = render(fig, tmp_path / f"{kind}.png")
    assert 400 < w < 1200 and 250 < h < 800


def test_sweep_plot_line_shows_the_means():
    fig = sweep_plot(RECORDS, "width", "psnr", kind="line")
    line = fig.axes[0].lines[0]
    expected = [sum(r["psnr"] for r in RECORDS if r["width"] == w) / 6 for w in (1, 2, 4)]
    assert list(line.get_ydata()) == pytest.approx(expected)
    plt.close(fig)


def test_sweep_plot_logx_labels_the_settings():
    fig = sweep_plot(RECORDS, "width", "psnr", logx=True)
    ax = fig.axes[0]
    assert ax.get_xscale() == "log"
    assert [t.get_text() for t in ax.get_xticklabels()] == ["1", "2", "4"]
    plt.close(fig)


def test_sweep_plot_errors():
    with pytest.raises(LeaklibError, match="no field 'ssim'"):
        sweep_plot(RECORDS, "width", "ssim")
    with pytest.raises(LeaklibError, match="unknown plot kind"):
        sweep_plot(RECORDS, "width", "psnr", kind="pie")
    with pytest.raises(LeaklibError, match="infinite"):
        sweep_plot([{"a": 1, "b": float("inf")}], "a", "b")
    with pytest.raises(LeaklibError, match="no records"):
        sweep_plot([], "a", "b")


def test_table_figure(tmp_path):
    fig = table_figure([{"model": "ResNet20-4", "psnr": 13.14159}, {"model": "LeNet", "psnr": 20.0}], title="t")
    h, w = render(fig, tmp_path / "table.png")
    assert w > 100 and h > 50


def test_comparison_grid_puts_the_truth_above_one_row_per_setting(tmp_path):
    true = torch.rand(3, 1, 28, 28)
    fig = comparison_grid(true, {"ig untrained": true, "ig trained": true.flip(-1)},
                          {"ig trained": ["a", "b", "c"]}, title="t")
    assert len(fig.axes) == 3 * 3
    assert [fig.axes[3 * r].get_ylabel() for r in range(3)] == ["true", "ig untrained", "ig trained"]
    assert fig.axes[6].get_xlabel() == "a"
    save_figure(fig, tmp_path / "c.png")
    plt.close(fig)


def test_comparison_grid_rejects_rows_that_do_not_match():
    true = torch.rand(2, 3, 8, 8)
    with pytest.raises(LeaklibError, match="at least one row"):
        comparison_grid(true, {})
    with pytest.raises(LeaklibError, match="row 'x' has shape"):
        comparison_grid(true, {"x": torch.rand(3, 3, 8, 8)})
    with pytest.raises(LeaklibError, match="captions"):
        comparison_grid(true, {"x": true}, {"x": ["only one"]})

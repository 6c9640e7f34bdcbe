"""PNG outputs of a run: loss curves, a 2-D scatter against the mixture modes, image grids.

matplotlib runs on the non-interactive Agg backend (no display needed).
"""
from __future__ import annotations

from pathlib import Path

import torch

__all__ = ["plot_losses", "plot_scatter", "plot_image_grid", "plot_hist", "plot_report"]


def _save(fig, path) -> Path:
    """Write a finished figure as PNG, atomically (see :mod:`fastgan.train.runs`), and free it."""
    from .runs import save_figure

    fig.tight_layout()
    try:
        return save_figure(fig, path)
    finally:
        _pyplot().close(fig)


def _pyplot():
    try:
        import matplotlib
    except ImportError as exc:  # pragma: no cover
        raise ImportError("plots need matplotlib: pip install 'fastgan[train]'") from exc
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_losses(history: dict, path, *, title: str = "training losses") -> Path:
    """One line per loss in ``history`` (name -> list of per-step floats), with a moving average."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    _loss_axes(ax, history, title)
    return _save(fig, path)


def _loss_axes(ax, history: dict, title: str) -> None:
    for name, values in history.items():
        if not values:
            continue
        v = torch.tensor(values, dtype=torch.float64)
        ax.plot(range(1, len(v) + 1), v.numpy(), alpha=0.25)
        w = max(1, len(v) // 50)
        if w > 1:
            avg = torch.nn.functional.avg_pool1d(v.view(1, 1, -1), w, stride=1).view(-1)
            ax.plot(range(w, len(v) + 1), avg.numpy(), label=f"{name} (avg {w})")
        else:
            ax.plot(range(1, len(v) + 1), v.numpy(), label=name)
    if history and all("mmd" in k for k in history):
        # MMD² falls by orders of magnitude (and the unbiased estimate dips below 0)
        ax.set_yscale("symlog", linthresh=1e-4)
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.set_title(title)
    ax.legend()


def plot_report(history: dict, metrics: dict, path, *, title: str = "run report") -> Path:
    """The loss curves (left) beside the evaluation metrics over training (right).

    ``metrics``: name -> (steps, values), e.g. from :meth:`fastgan.train.logging.MetricsLog.series`;
    names with no points are left out (without any, the right panel says so)."""
    plt = _pyplot()
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(11, 4))
    _loss_axes(ax, history, title)
    shown = {k: v for k, v in metrics.items() if v[0]}
    for name, (steps, values) in shown.items():
        bx.plot(steps, values, marker="o", ms=3, label=name)
    if shown:
        bx.set_yscale("symlog", linthresh=1e-4)  # KID may dip below 0 (unbiased)
        bx.legend()
    else:
        bx.text(0.5, 0.5, "no evaluations (--eval-every)", ha="center", va="center", transform=bx.transAxes)
        bx.set_yticks([])
    bx.set_xlabel("step")
    bx.set_title("held-out metrics (lower is better)")
    return _save(fig, path)


def plot_scatter(samples: torch.Tensor, path, *, real: torch.Tensor | None = None,
                 centers: torch.Tensor | None = None, title: str = "samples") -> Path:
    """Scatter of 2-D generated samples (and real samples / mode centres when given)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5, 5))
    if real is not None:
        r = real.detach().float().cpu()
        ax.scatter(r[:, 0], r[:, 1], s=2, alpha=0.3, c="tab:gray", label="data")
    s = samples.detach().float().cpu()
    ax.scatter(s[:, 0], s[:, 1], s=2, alpha=0.5, c="tab:blue", label="generated")
    if centers is not None:
        c = centers.detach().float().cpu()
        ax.scatter(c[:, 0], c[:, 1], s=30, marker="x", c="tab:red", label="modes")
    ax.set_aspect("equal")
    ax.set_title(title)
    ax.legend(loc="upper right", markerscale=3)
    return _save(fig, path)


def plot_hist(samples: torch.Tensor, path, *, real: torch.Tensor | None = None,
              title: str = "samples") -> Path:
    """Histogram of 1-D samples against real data."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    if real is not None:
        ax.hist(real.detach().float().cpu().view(-1).numpy(), bins=60, density=True, alpha=0.4,
                label="data")
    ax.hist(samples.detach().float().cpu().view(-1).numpy(), bins=60, density=True, alpha=0.4,
            label="generated")
    ax.set_title(title)
    ax.legend()
    return _save(fig, path)


def plot_image_grid(images: torch.Tensor, path, *, image_shape=(8, 8), nrow: int = 8,
                    title: str | None = None, real: torch.Tensor | None = None) -> Path:
    """A grid of grey images: images (n, H·W) or (n, H, W) with values in [0, 1]. With
    ``real``, its first ``nrow`` images fill the top row, above the generated ones."""
    plt = _pyplot()
    if len(image_shape) == 3:
        return _plot_color_grid(images, path, image_shape, nrow, title, real)
    imgs = images.detach().float().cpu().clamp(0, 1).reshape(-1, *image_shape)
    if real is not None:
        top = real.detach().float().cpu().clamp(0, 1).reshape(-1, *image_shape)[:nrow]
        imgs = torch.cat([top, imgs])
    n = imgs.shape[0]
    ncol = min(nrow, n)
    nrows = -(-n // ncol)
    h, w = image_shape
    canvas = torch.zeros(nrows * (h + 1) - 1, ncol * (w + 1) - 1)
    for i in range(n):
        r, c = divmod(i, ncol)
        canvas[r * (h + 1):r * (h + 1) + h, c * (w + 1):c * (w + 1) + w] = imgs[i]
    fig, ax = plt.subplots(figsize=(ncol * 0.6, nrows * 0.6))
    ax.imshow(canvas.numpy(), cmap="gray_r", vmin=0, vmax=1, interpolation="nearest")
    ax.axis("off")
    if title:
        ax.set_title(title)
    return _save(fig, path)


def _plot_color_grid(images, path, image_shape, nrow, title, real) -> Path:
    """The grid of (C, H, W) images in [-1, 1] (image folders, ``shapes``, conv generators)."""
    plt = _pyplot()
    c, h, w = image_shape

    def prep(x):
        return ((x.detach().float().cpu().reshape(-1, c, h, w) + 1) / 2).clamp(0, 1)

    imgs = prep(images)
    if real is not None:
        imgs = torch.cat([prep(real)[:nrow], imgs])
    n = imgs.shape[0]
    ncol = min(nrow, n)
    nrows = -(-n // ncol)
    canvas = torch.ones(c, nrows * (h + 1) - 1, ncol * (w + 1) - 1)
    for i in range(n):
        r, col = divmod(i, ncol)
        canvas[:, r * (h + 1):r * (h + 1) + h, col * (w + 1):col * (w + 1) + w] = imgs[i]
    fig, ax = plt.subplots(figsize=(ncol * 0.6, nrows * 0.6))
    if c == 1:
        ax.imshow(canvas[0].numpy(), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    else:
        ax.imshow(canvas.permute(1, 2, 0).numpy(), interpolation="nearest")
    ax.axis("off")
    if title:
        ax.set_title(title)
    return _save(fig, path)

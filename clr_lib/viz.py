"""Matplotlib figures the chapters share: image grids, view pairs, similarity matrices,
training curves and 2-D maps of embeddings. Each function returns its ``Figure``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure


def _as_display(image: np.ndarray) -> np.ndarray:
    """An image on the 0..255 scale (uint8 or float) as uint8 for imshow."""
    return np.clip(np.asarray(image, np.float32), 0, 255).astype(np.uint8)


def image_grid(
    images: np.ndarray,
    titles: Sequence[str] | None = None,
    ncols: int = 8,
    size: float = 1.2,
) -> Figure:
    """Show ``images`` ``(N, H, W, 3)`` in a grid, optionally titled (e.g. with class names)."""
    n = len(images)
    nrows = max(1, -(-n // ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows + 0.2 * bool(titles)), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < n:
            ax.imshow(_as_display(images[i]))
            if titles is not None:
                ax.set_title(str(titles[i]), fontsize=8)
    fig.tight_layout()
    return fig


def view_pairs(images: np.ndarray, view_a: np.ndarray, view_b: np.ndarray, size: float = 1.2) -> Figure:
    """Three rows: the originals and two augmented views of each (columns are images)."""
    n = len(images)
    fig, axes = plt.subplots(3, n, figsize=(size * n, size * 3 + 0.3), squeeze=False)
    for row, (name, batch) in enumerate((("original", images), ("view a", view_a), ("view b", view_b))):
        for col in range(n):
            ax = axes[row, col]
            ax.imshow(_as_display(batch[col]))
            ax.set_xticks([]), ax.set_yticks([])
        axes[row, 0].set_ylabel(name, fontsize=9)
    fig.tight_layout()
    return fig


def similarity_heatmap(
    matrix: np.ndarray,
    labels: Sequence[str] | None = None,
    title: str = "",
    annotate: bool = True,
    cmap: str = "viridis",
) -> Figure:
    """A square similarity (or logit) matrix as a heatmap, values written in the cells when small."""
    matrix = np.asarray(matrix)
    n = len(matrix)
    fig, ax = plt.subplots(figsize=(0.6 * n + 2, 0.6 * n + 1.5))
    image = ax.imshow(matrix, cmap=cmap)
    fig.colorbar(image, ax=ax, fraction=0.046)
    if labels is not None:
        ax.set_xticks(range(n), labels, rotation=90, fontsize=8)
        ax.set_yticks(range(n), labels, fontsize=8)
    if annotate and n <= 12:
        for i in range(n):
            for j in range(matrix.shape[1]):
                ax.text(j, i, f"{matrix[i, j]:.2f}", ha="center", va="center", fontsize=7, color="w")
    ax.set_title(title)
    fig.tight_layout()
    return fig


def training_curves(
    history: Mapping[str, Sequence[float]],
    metrics: Sequence[str] | None = None,
    baselines: Mapping[str, float] | None = None,
) -> Figure:
    """One panel per metric of a Keras ``History.history``-style dict (e.g. loss, val_knn_acc).

    ``baselines`` draws labelled horizontal reference lines (e.g. the supervised accuracy)
    on every panel whose name ends in ``acc``.
    """
    metrics = list(metrics or history)
    fig, axes = plt.subplots(1, len(metrics), figsize=(4 * len(metrics), 3), squeeze=False)
    for ax, name in zip(axes.flat, metrics):
        values = history[name]
        ax.plot(range(1, len(values) + 1), values, marker="o", markersize=3)
        if baselines and name.endswith("acc"):
            for label, value in baselines.items():
                ax.axhline(value, linestyle="--", linewidth=1, color="gray")
                ax.annotate(label, (1, value), fontsize=8, va="bottom")
        ax.set_xlabel("epoch"), ax.set_title(name)
    fig.tight_layout()
    return fig


def embedding_2d(
    features: np.ndarray,
    labels: np.ndarray,
    class_names: Sequence[str] | None = None,
    method: str = "umap",
    seed: int = 0,
    ax: plt.Axes | None = None,
) -> Figure:
    """A 2-D map of ``features`` ``(N, D)`` coloured by label, with UMAP (cosine) or t-SNE."""
    if method == "umap":
        import umap

        points = umap.UMAP(metric="cosine", random_state=seed, n_jobs=1).fit_transform(features)
    elif method == "tsne":
        from sklearn.manifold import TSNE

        points = TSNE(metric="cosine", init="pca", random_state=seed).fit_transform(features)
    else:
        raise ValueError(f"method must be 'umap' or 'tsne', got {method!r}.")
    fig = ax.figure if ax is not None else plt.subplots(figsize=(6, 5))[0]
    ax = ax or fig.axes[0]
    labels = np.asarray(labels).reshape(-1)
    for c in np.unique(labels):
        ax.scatter(*points[labels == c].T, s=3, label=class_names[c] if class_names else str(c))
    ax.set_title(f"{method.upper() if method == 'umap' else 't-SNE'} of {len(points)} embeddings")
    ax.set_xticks([]), ax.set_yticks([])
    ax.legend(markerscale=4, fontsize=7, loc="best")
    return fig

"""Matplotlib figures the chapters share: image grids, view pairs, similarity matrices,
training curves and 2-D maps of embeddings, and the methods' diagrams (``clr_lib.diagrams``).
Each function returns its ``Figure``."""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from clr_lib.diagrams import dcl_diagram, idea_diagram, moco_diagram, nnclr_diagram, simclr_diagram  # noqa: F401


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


def knn_curves(
    histories: Mapping[str, Mapping[str, Sequence[float]]],
    baselines: Mapping[str, float] | None = None,
    metric: str = "val_knn_acc",
    ax: plt.Axes | None = None,
) -> Figure:
    """The kNN accuracy after every epoch of several runs (name -> history), one line each, e.g. a
    chapter's method next to SimCLR; ``baselines`` (name -> accuracy) are grey horizontal lines (dashed,
    dotted, dash-dotted in turn), e.g. a random encoder or another chapter's final accuracy."""
    if not histories:
        raise ValueError("knn_curves needs at least one history, e.g. {'SimCLR': {'val_knn_acc': [0.4, 0.5]}}.")
    fig = ax.figure if ax is not None else plt.subplots(figsize=(5.5, 3.5))[0]
    ax = ax or fig.axes[0]
    for name, history in histories.items():
        ax.plot(range(1, len(history[metric]) + 1), history[metric], marker="o", label=name)
    for (name, value), style in zip((baselines or {}).items(), itertools.cycle(("--", ":", "-."))):
        ax.axhline(value, linestyle=style, color="gray", label=name)
    ax.set_xlabel("epoch"), ax.set_ylabel("kNN top-1, all test images"), ax.legend()
    ax.xaxis.set_major_locator(plt.MaxNLocator(integer=True))
    ax.yaxis.set_major_formatter(plt.FuncFormatter(lambda v, _: f"{v:.0%}"))
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


def alignment_uniformity(
    alignment: Mapping[str, float],
    uniformity: Mapping[str, float],
    accuracy: Mapping[str, float] | None = None,
    accuracy_label: str = "kNN accuracy",
    ax: plt.Axes | None = None,
) -> Figure:
    """Wang & Isola's (2020) plane: one labelled point per run, uniformity on x, alignment on y.

    Both are losses (lower is better: the best runs sit bottom left). ``alignment`` and
    ``uniformity`` map a run's name to its value (``clr_lib.evaluation.alignment`` and
    ``uniformity``); runs named in ``accuracy`` are coloured by it (with a colour bar),
    the others are drawn in grey.
    """
    if set(alignment) != set(uniformity):
        raise ValueError(
            f"alignment and uniformity must name the same runs, got {sorted(alignment)} and {sorted(uniformity)}."
        )
    fig = ax.figure if ax is not None else plt.subplots(figsize=(5, 4))[0]
    ax = ax or fig.axes[0]
    accuracy = dict(accuracy or {})
    names = list(alignment)
    coloured = [n for n in names if n in accuracy]
    grey = [n for n in names if n not in accuracy]
    if grey:
        ax.scatter([uniformity[n] for n in grey], [alignment[n] for n in grey], c="lightgray", edgecolors="k", s=60)
    if coloured:
        points = ax.scatter([uniformity[n] for n in coloured], [alignment[n] for n in coloured],
                            c=[accuracy[n] for n in coloured], cmap="viridis", edgecolors="k", s=60)
        fig.colorbar(points, ax=ax, label=accuracy_label)
    for n in names:
        ax.annotate(n, (uniformity[n], alignment[n]), xytext=(5, 4), textcoords="offset points", fontsize=8)
    ax.set_xlabel("uniformity  (lower = more uniform)")
    ax.set_ylabel("alignment  (lower = better aligned)")
    ax.margins(0.15)
    return fig


def image_rows(
    rows: Mapping[str, np.ndarray],
    column_titles: Sequence[str] | None = None,
    size: float = 1.2,
) -> Figure:
    """One labelled row of images per entry of ``rows`` (label -> ``(N, H, W, 3)`` images, 0..255).

    For a parameter sweep: the same ``N`` images (columns) under one transform at several settings
    (rows), e.g. ``{"sigma = 0.1": ..., "sigma = 2": ...}``. Every row must hold the same number of images.
    """
    if not rows:
        raise ValueError("image_rows needs at least one row, e.g. {'original': images}.")
    counts = {label: len(images) for label, images in rows.items()}
    if len(set(counts.values())) != 1:
        raise ValueError(f"every row must hold the same number of images, got {counts}.")
    n = next(iter(counts.values()))
    if column_titles is not None and len(column_titles) != n:
        raise ValueError(f"column_titles must name the {n} columns, got {len(column_titles)} titles.")
    fig, axes = plt.subplots(len(rows), n, figsize=(size * n + 0.8, size * len(rows) + 0.2), squeeze=False)
    for r, (label, images) in enumerate(rows.items()):
        for c in range(n):
            ax = axes[r, c]
            ax.imshow(_as_display(images[c]))
            ax.set_xticks([]), ax.set_yticks([])
            if r == 0 and column_titles is not None:
                ax.set_title(str(column_titles[c]), fontsize=8)
        axes[r, 0].set_ylabel(label, fontsize=8, rotation=0, ha="right", va="center")
    fig.tight_layout()
    return fig


def metric_bars(
    values: Mapping[str, float | Sequence[float]],
    label: str = "kNN accuracy",
    baselines: Mapping[str, float] | None = None,
    percent: bool = True,
    ax: plt.Axes | None = None,
) -> Figure:
    """One bar per run (name -> value), e.g. the kNN accuracy of each setting of an ablation.

    A value may be one number or one number per seed: the bar is then their mean with an error
    bar of one sample standard deviation. Each bar has its value written on top (as a percentage
    when ``percent``); ``baselines`` (name -> value) are drawn as labelled dashed horizontal
    lines, e.g. a random encoder.
    """
    if not values:
        raise ValueError("metric_bars needs at least one value, e.g. {'crop': 0.41}.")
    fig = ax.figure if ax is not None else plt.subplots(figsize=(1.1 * len(values) + 2.5, 3.2))[0]
    ax = ax or fig.axes[0]
    seeds = [np.asarray(v, np.float64).reshape(-1) for v in values.values()]
    names, heights = list(values), [float(v.mean()) for v in seeds]
    spreads = [float(v.std(ddof=1)) if len(v) > 1 else 0.0 for v in seeds]
    bars = ax.bar(range(len(names)), heights, color="tab:blue",
                  yerr=spreads if any(spreads) else None, capsize=3)
    ax.bar_label(bars, labels=[f"{h:.1%}" if percent else f"{h:.3g}" for h in heights], fontsize=8, padding=2)
    ax.set_xticks(range(len(names)), names)
    for name, value in (baselines or {}).items():  # labelled just right of the axes, clear of the bars
        ax.axhline(value, linestyle="--", linewidth=1, color="gray")
        ax.annotate(name, (1.0, value), xycoords=("axes fraction", "data"), xytext=(4, 0),
                    textcoords="offset points", fontsize=8, va="center", color="dimgray")
    if percent:
        ax.yaxis.set_major_formatter(plt.FuncFormatter(lambda v, _: f"{v:.0%}"))
    ax.set_ylabel(label)
    tops = [h + e for h, e in zip(heights, spreads)]
    ax.set_ylim(0, max(tops + list((baselines or {}).values())) * 1.15)
    fig.tight_layout()
    return fig


def label_efficiency(
    curves: Mapping[str, Mapping[int, float]],
    references: Mapping[str, float] | None = None,
    total: int | None = None,
    ax: plt.Axes | None = None,
) -> Figure:
    """Accuracy against the number of labelled images (log scale): one line per curve, values written on the points.

    ``curves`` maps a name (e.g. "classifier, test accuracy") to ``{labelled images: accuracy}``;
    ``references`` (name -> accuracy) are dashed horizontal lines, e.g. chance or a random
    encoder. With ``total`` (all labelled images available), each tick also shows its fraction of it.
    """
    if not curves or not all(curves.values()):
        raise ValueError("label_efficiency needs at least one curve with points, e.g. {'classifier': {500: 0.3}}.")
    fig = ax.figure if ax is not None else plt.subplots(figsize=(6, 4))[0]
    ax = ax or fig.axes[0]
    counts = sorted({int(n) for points in curves.values() for n in points})
    if counts[0] < 1:
        raise ValueError(f"numbers of labelled images must be >= 1 (a log axis), got {counts[0]}.")
    for name, points in curves.items():
        xs = sorted(points)
        ys = [float(points[n]) for n in xs]
        ax.plot(xs, ys, marker="o", label=name)
        for n, value in zip(xs, ys):
            ax.annotate(f"{value:.1%}", (n, value), xytext=(4, 4), textcoords="offset points", fontsize=8)
    for name, value in (references or {}).items():
        ax.axhline(value, linestyle="--", linewidth=1, color="gray")
        ax.annotate(name, (counts[0], value), fontsize=8, va="bottom", color="dimgray")
    ax.set_xscale("log")
    ticks = [f"{n:,}" + (f"\n({n / total:.0%})" if total else "") for n in counts]
    ax.set_xticks(counts, ticks)
    ax.minorticks_off()
    ax.yaxis.set_major_formatter(plt.FuncFormatter(lambda v, _: f"{v:.0%}"))
    ax.set_xlabel("labelled training images")
    ax.set_ylabel("test accuracy")
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return fig


def pair_distance_histograms(
    panels: Mapping[str, tuple[np.ndarray, np.ndarray]],
    margin: float | None = None,
    bins: int = 40,
    xlabel: str = "distance",
    names: tuple[str, str] = ("similar pairs", "dissimilar pairs"),
) -> Figure:
    """One panel per entry: the distances of similar and of dissimilar pairs as two overlaid histograms.

    ``panels`` maps a title (e.g. "before training") to ``(distances, same)``: ``(N,)`` pair
    distances and ``(N,)`` pair labels (1 = similar, 0 = dissimilar, as from
    ``clr_lib.methods.make_pairs``). Each histogram is a density, so the two kinds compare
    even when their counts differ; ``margin`` draws the margin loss's margin as a vertical line.
    """
    if not panels:
        raise ValueError("pair_distance_histograms needs at least one panel, e.g. {'before': (d, same)}.")
    fig, axes = plt.subplots(1, len(panels), figsize=(4 * len(panels), 3), squeeze=False)
    for ax, (title, (distances, same)) in zip(axes.flat, panels.items()):
        distances, same = np.asarray(distances, np.float64).reshape(-1), np.asarray(same).reshape(-1)
        if len(distances) != len(same):
            raise ValueError(f"panel {title!r}: {len(distances)} distances but {len(same)} pair labels.")
        if not np.isin(same, (0, 1)).all() or len(np.unique(same)) < 2:
            raise ValueError(f"panel {title!r}: pair labels must be 1 (similar) and 0 (dissimilar), both present.")
        edges = np.histogram_bin_edges(distances, bins=bins)
        for kind, name, colour in ((1, names[0], "tab:blue"), (0, names[1], "tab:orange")):
            ax.hist(distances[same == kind], bins=edges, density=True, alpha=0.55, color=colour, label=name)
        if margin is not None:
            ax.axvline(margin, color="k", linestyle="--", linewidth=1, label=f"margin {margin:g}")
        ax.set_title(title), ax.set_xlabel(xlabel), ax.set_yticks([])
    axes.flat[0].legend(fontsize=8)
    fig.tight_layout()
    return fig


def retrieval_grid(
    queries: np.ndarray,
    neighbors: np.ndarray,
    query_labels: Sequence[int] | None = None,
    neighbor_labels: np.ndarray | None = None,
    class_names: Sequence[str] | None = None,
    size: float = 1.1,
) -> Figure:
    """One row per query: the query image, then its retrieved neighbors, most similar first.

    ``queries`` ``(Q, H, W, 3)`` and ``neighbors`` ``(Q, k, H, W, 3)`` are images on 0..255 (e.g.
    ``bank_images[indices]`` with the indices of ``clr_lib.evaluation.nearest_neighbors``).
    With labels (``(Q,)`` and ``(Q, k)``), every image is titled with its class, and each
    neighbor's title is green when it shares the query's class, red otherwise.
    """
    queries, neighbors = np.asarray(queries), np.asarray(neighbors)
    if neighbors.ndim != 5 or len(neighbors) != len(queries) or queries.ndim != 4:
        raise ValueError(f"queries must be (Q, H, W, 3) and neighbors (Q, k, H, W, 3) for the same Q, "
                         f"got shapes {queries.shape} and {neighbors.shape}.")
    if (query_labels is None) != (neighbor_labels is None):
        raise ValueError("pass both query_labels and neighbor_labels, or neither.")
    labelled = query_labels is not None
    if labelled:
        query_labels, neighbor_labels = np.asarray(query_labels).reshape(-1), np.asarray(neighbor_labels)
        if query_labels.shape != (len(queries),) or neighbor_labels.shape != neighbors.shape[:2]:
            raise ValueError(f"need one label per query {(len(queries),)} and per neighbor {neighbors.shape[:2]}, "
                             f"got {query_labels.shape} and {neighbor_labels.shape}.")
    name = (lambda c: class_names[c]) if class_names is not None else str
    n_rows, k = neighbors.shape[:2]
    fig, axes = plt.subplots(n_rows, k + 1, figsize=(size * (k + 1), size * n_rows + 0.3), squeeze=False)
    for r in range(n_rows):
        for c in range(k + 1):
            ax = axes[r, c]
            ax.imshow(_as_display(queries[r] if c == 0 else neighbors[r, c - 1]))
            ax.set_xticks([]), ax.set_yticks([])
            if labelled and c == 0:
                ax.set_title(name(query_labels[r]), fontsize=8, fontweight="bold")
            elif labelled:
                same = neighbor_labels[r, c - 1] == query_labels[r]
                ax.set_title(name(neighbor_labels[r, c - 1]), fontsize=8, color="tab:green" if same else "tab:red")
        for spine in axes[r, 0].spines.values():  # a frame marks the query column
            spine.set_linewidth(2.5)
    axes[0, 0].set_xlabel("query", fontsize=8)
    axes[0, 0].xaxis.set_label_position("top")
    fig.tight_layout()
    return fig


def positive_rows(
    queries: np.ndarray,
    positives: Mapping[str, tuple[np.ndarray, np.ndarray]],
    column_titles: Sequence[str] | None = None,
    query_label: str = "image",
    size: float = 1.2,
) -> Figure:
    """Images and the positives a method paired them with: the queries in the first row, then one
    row per entry of ``positives``, each positive captioned with its cosine similarity to its query.

    ``queries`` ``(N, H, W, 3)``; ``positives`` maps a row label (e.g. "after epoch 1") to
    ``(images, similarities)``: ``(N, h, w, 3)`` images on 0..255 (any size; e.g. NNCLR's
    ``support_views[indices]``) and ``(N,)`` cosines. Column ``i`` is query ``i`` and its positives.
    """
    queries = np.asarray(queries)
    if not positives:
        raise ValueError("positive_rows needs at least one row of positives, e.g. {'after epoch 1': (images, sims)}.")
    for label, (images, similarities) in positives.items():
        if len(images) != len(queries) or np.shape(similarities) != (len(queries),):
            raise ValueError(f"row {label!r}: need one positive image and one similarity per query ({len(queries)}), "
                             f"got {len(images)} images and similarities of shape {np.shape(similarities)}.")
    fig = image_rows({query_label: queries, **{label: images for label, (images, _) in positives.items()}},
                     column_titles=column_titles, size=size)
    n = len(queries)
    fig.set_size_inches(fig.get_size_inches() + np.array([0.0, 0.25 * len(positives)]))
    for r, (_, similarities) in enumerate(positives.values(), start=1):
        for c, s in enumerate(np.asarray(similarities, np.float64)):
            fig.axes[r * n + c].set_xlabel(f"cos {s:.2f}", fontsize=7)
    fig.tight_layout()
    return fig

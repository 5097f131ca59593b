"""Pictures of the methods, drawn with matplotlib so that every chapter's diagram is code, tested and
styled in one place. ``clr_lib.viz`` re-exports them (``viz.simclr_diagram()``).
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from matplotlib.patches import FancyBboxPatch, Patch

ENCODER_COLOUR, HEAD_COLOUR, LOSS_COLOUR = "#cfe0f3", "#f6dcc0", "#d9ecd0"
PAIR_COLOURS = ListedColormap(["#f2f2f2", "lightsteelblue", "seagreen"])  # excluded, negative, positive


def _box(ax: plt.Axes, centre: tuple[float, float], text: str, colour: str, width: float = 1.5,
         height: float = 0.62) -> None:
    x, y = centre
    ax.add_patch(FancyBboxPatch((x - width / 2, y - height / 2), width, height, boxstyle="round,pad=0.04",
                                facecolor=colour, edgecolor="0.35"))
    ax.text(x, y, text, ha="center", va="center", fontsize=9)


def _arrow(ax: plt.Axes, start: tuple[float, float], end: tuple[float, float], text: str = "") -> None:
    ax.annotate("", end, start, arrowprops={"arrowstyle": "->", "color": "0.3", "shrinkA": 2, "shrinkB": 2})
    if text:
        ax.text((start[0] + end[0]) / 2, (start[1] + end[1]) / 2 + 0.12, text, ha="center", va="bottom", fontsize=8)


def _thumbnail(ax: plt.Axes, centre: tuple[float, float], image: np.ndarray | None, label: str,
               size: float = 0.8) -> None:
    x, y = centre
    extent = (x - size / 2, x + size / 2, y - size / 2, y + size / 2)
    if image is None:
        ax.add_patch(plt.Rectangle(extent[::2], size, size, facecolor="0.85", edgecolor="0.35"))
    else:
        shown = np.asarray(image, np.float32)
        ax.imshow(np.clip(shown / 255.0 if shown.max() > 1.0 else shown, 0, 1), extent=extent, zorder=2)
    ax.text(x, y - size / 2 - 0.1, label, ha="center", va="top", fontsize=8)


def pair_matrix(n: int) -> np.ndarray:
    """The roles in NT-Xent's ``2n x 2n`` similarity matrix: 0 on the diagonal (a view is not its own
    candidate), 2 at each view's positive (view ``i`` and view ``i + n``), 1 at every negative."""
    if n < 2:
        raise ValueError(f"a batch needs at least 2 images to have negatives, got n={n}.")
    roles = np.ones((2 * n, 2 * n), int)
    np.fill_diagonal(roles, 0)
    index = np.arange(2 * n)
    roles[index, (index + n) % (2 * n)] = 2
    return roles


def simclr_diagram(image: np.ndarray | None = None, views: tuple[np.ndarray, np.ndarray] | None = None,
                   n: int = 4) -> Figure:
    """SimCLR in one picture: an image, its two augmented views, the shared encoder ``f`` and head
    ``g``, and the ``2n x 2n`` similarity matrix NT-Xent reads (positives green, negatives blue).

    ``image`` (H, W, 3) and ``views`` (two such arrays) are drawn when given, grey squares otherwise.
    """
    fig = plt.figure(figsize=(11, 3.6))
    ax = fig.add_axes((0.0, 0.0, 0.7, 1.0))
    ax.set_xlim(0, 10), ax.set_ylim(0, 4), ax.set_aspect("equal"), ax.axis("off")
    view_a, view_b = views if views is not None else (None, None)
    _thumbnail(ax, (0.6, 2.0), image, "image x")
    for y, view, name, end in ((3.1, view_a, "a", 2.5), (0.9, view_b, "b", 1.5)):
        ax.annotate("", (1.85, y), (1.05, 2.0), arrowprops={"arrowstyle": "->", "color": "0.3"})
        ax.text(1.45, y + (0.05 if name == "a" else -0.05), f"$t_{name} \\sim T$", ha="right",
                va="bottom" if name == "a" else "top", fontsize=8)
        _thumbnail(ax, (2.35, y), view, f"view $x_{name}$")
        _arrow(ax, (2.8, y), (3.45, y))
        _box(ax, (4.25, y), "encoder f", ENCODER_COLOUR)
        _arrow(ax, (5.05, y), (5.75, y), f"$h_{name}$")
        _box(ax, (6.55, y), "head g", HEAD_COLOUR)
        _arrow(ax, (7.35, y), (8.2, end), f"$z_{name}$")
    ax.text(4.25, 2.0, "shared weights", ha="center", va="center", fontsize=8, style="italic", color="0.3")
    ax.text(6.55, 2.0, "shared weights", ha="center", va="center", fontsize=8, style="italic", color="0.3")
    _box(ax, (8.9, 2.0), f"NT-Xent\nover the\n{2 * n} views", LOSS_COLOUR, width=1.4, height=1.5)
    ax.text(4.25, 0.12, "kept after training", ha="center", fontsize=8, color="0.3")
    ax.text(6.55, 0.12, "thrown away", ha="center", fontsize=8, color="0.3")

    matrix = fig.add_axes((0.73, 0.17, 0.24, 0.72))
    matrix.imshow(pair_matrix(n), cmap=PAIR_COLOURS, vmin=0, vmax=2)
    labels = [f"a{i + 1}" for i in range(n)] + [f"b{i + 1}" for i in range(n)]
    matrix.set_xticks(range(2 * n), labels, fontsize=7), matrix.set_yticks(range(2 * n), labels, fontsize=7)
    matrix.set_title(f"similarities of {2 * n} views (N = {n})", fontsize=9)
    matrix.legend(handles=[Patch(color="seagreen", label="positive"), Patch(color="lightsteelblue", label="negative"),
                           Patch(facecolor="#f2f2f2", edgecolor="0.5", label="left out")],
                  loc="upper center", bbox_to_anchor=(0.5, -0.08), ncol=3, fontsize=7, frameon=False)
    return fig


def _two_branches(ax: plt.Axes, views: tuple[np.ndarray, np.ndarray] | None, top: tuple[str, str, str],
                  bottom: tuple[str, str, str], colours: tuple[str, str] = (ENCODER_COLOUR, ENCODER_COLOUR)) -> None:
    """Two views, each through an encoder and a head: ``top``/``bottom`` = (encoder, head, output) labels."""
    view_a, view_b = views if views is not None else (None, None)
    for y, view, (encoder, head, output), colour, name in ((3.1, view_a, top, colours[0], "a"),
                                                            (0.9, view_b, bottom, colours[1], "b")):
        _thumbnail(ax, (0.6, y), view, f"view x{name}")
        _arrow(ax, (1.05, y), (1.6, y))
        _box(ax, (2.4, y), encoder, colour)
        _arrow(ax, (3.2, y), (3.75, y))
        _box(ax, (4.55, y), head, HEAD_COLOUR)
        _arrow(ax, (5.35, y), (6.0, y), output)


def moco_diagram(views: tuple[np.ndarray, np.ndarray] | None = None, queue_size: int = 8) -> Figure:
    """MoCo in one picture: the query encoder (trained), the key encoder (a momentum average of it,
    no gradient), and the queue of past keys that supplies the negatives of InfoNCE."""
    fig, ax = plt.subplots(figsize=(11, 3.8))
    ax.set_xlim(0, 11), ax.set_ylim(0, 4), ax.set_aspect("equal"), ax.axis("off")
    _two_branches(ax, views, ("query encoder\nf_q", "head g_q", "q"), ("key encoder\nf_k", "key head g_k", "k+"),
                  colours=(ENCODER_COLOUR, "#e4e4e4"))
    ax.annotate("", (2.4, 1.25), (2.4, 2.75), arrowprops={"arrowstyle": "->", "linestyle": "--", "color": "0.3"})
    ax.text(2.55, 2.0, "θ_k ← m θ_k + (1 − m) θ_q\n(no gradient to the keys)", fontsize=8, va="center")
    _box(ax, (7.1, 2.0), "InfoNCE:\nq against k+\nand the queue", LOSS_COLOUR, width=1.7, height=1.3)
    _arrow(ax, (6.0, 3.1), (6.3, 2.5))
    _arrow(ax, (6.0, 0.9), (6.3, 1.5))
    left, width = 8.3, 2.4 / queue_size
    for i in range(queue_size):  # the queue: newest key on the left, oldest on the right
        ax.add_patch(plt.Rectangle((left + i * width, 0.55), width, 0.45, facecolor="lightsteelblue",
                                   edgecolor="0.35"))
    ax.text(left + 1.2, 0.3, f"queue: the last K keys (K = {queue_size} drawn)", ha="center", va="top", fontsize=8)
    ax.text(left, 1.08, "newest", fontsize=7, ha="left", va="bottom")
    ax.text(left + 2.4, 1.08, "oldest: dropped", fontsize=7, ha="right", va="bottom")
    _arrow(ax, (6.1, 0.75), (left - 0.05, 0.75), "enqueue")
    ax.annotate("", (7.95, 1.4), (left + 0.9, 1.35), arrowprops={"arrowstyle": "->", "color": "0.3"})
    ax.text(8.75, 1.6, "negatives", fontsize=8, ha="center")
    return fig


def denominator_roles(n: int, decoupled: bool) -> np.ndarray:
    """Each view's row of NT-Xent (``decoupled=False``) or DCL: 0 not a candidate (the view itself),
    1 a negative in the denominator, 2 the positive in numerator and denominator (NT-Xent), 3 the
    positive in the numerator only (DCL takes it out of the denominator)."""
    roles = pair_matrix(n)
    if decoupled:
        roles[roles == 2] = 3
    return roles


def dcl_diagram(n: int = 4) -> Figure:
    """NT-Xent and DCL side by side: the same 2N x 2N similarities, and which term each loss puts in
    the denominator of its softmax. DCL removes the positive from it (Yeh et al., 2022)."""
    colours = ListedColormap(["#f2f2f2", "lightsteelblue", "seagreen", "#bfe3bf"])
    fig, panels = plt.subplots(1, 2, figsize=(9, 4.4))
    labels = [f"a{i + 1}" for i in range(n)] + [f"b{i + 1}" for i in range(n)]
    formulas = (r"$-\log \frac{e^{s_{i,p}/\tau}}{e^{s_{i,p}/\tau} + \sum_{k \in neg} e^{s_{i,k}/\tau}}$",
                r"$-\log \frac{e^{s_{i,p}/\tau}}{\sum_{k \in neg} e^{s_{i,k}/\tau}}$")
    for ax, decoupled, title, formula in zip(panels, (False, True), ("NT-Xent (SimCLR)", "DCL"), formulas):
        ax.imshow(denominator_roles(n, decoupled), cmap=colours, vmin=0, vmax=3)
        ax.set_xticks(range(2 * n), labels, fontsize=7), ax.set_yticks(range(2 * n), labels, fontsize=7)
        ax.set_title(f"{title}\n{formula}", fontsize=10)
    fig.legend(handles=[Patch(color="seagreen", label="positive, also in the denominator"),
                        Patch(color="#bfe3bf", label="positive, numerator only"),
                        Patch(color="lightsteelblue", label="negative (denominator)"),
                        Patch(facecolor="#f2f2f2", edgecolor="0.5", label="left out")],
               loc="lower center", ncol=4, fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    return fig


def nnclr_diagram(views: tuple[np.ndarray, np.ndarray] | None = None, support_size: int = 12) -> Figure:
    """NNCLR in one picture: view a's projection is replaced by its nearest neighbour in a support
    set of past projections, and that neighbour is the positive for view b's prediction (Dwibedi et
    al., 2021); the loss also runs the other way round, a and b swapped."""
    fig, ax = plt.subplots(figsize=(11, 3.8))
    ax.set_xlim(0, 11), ax.set_ylim(0, 4), ax.set_aspect("equal"), ax.axis("off")
    _two_branches(ax, views, ("encoder f", "head g", "z_a"), ("encoder f", "head g\n+ predictor", "p_b"))
    columns, rows = support_size // 2, 2
    left, bottom, cell = 6.3, 2.75, 0.35
    nearest = columns + 2  # the support-set entry drawn as z_a's nearest neighbour
    for index in range(columns * rows):
        column, row = index % columns, index // columns
        ax.add_patch(plt.Rectangle((left + column * cell, bottom + row * cell), cell, cell, edgecolor="0.35",
                                   facecolor="seagreen" if index == nearest else "lightsteelblue"))
    ax.text(left + columns * cell / 2, bottom + rows * cell + 0.1, "support set Q: past projections",
            ha="center", va="bottom", fontsize=8)
    ax.text(left + columns * cell + 0.15, bottom + cell, "NN(z_a): the most\nsimilar entry", fontsize=8,
            va="center")
    _box(ax, (7.4, 1.0), "InfoNCE:\nNN(z_a) against p_b\nand the batch's p", LOSS_COLOUR, width=2.0, height=1.1)
    _arrow(ax, (left + (nearest - columns + 0.5) * cell, bottom), (7.4, 1.58), "positive")
    _arrow(ax, (6.1, 0.9), (6.38, 0.9))
    ax.text(5.2, 2.35, "look-up, then z_a joins Q", fontsize=8, ha="center")
    return fig


def idea_diagram() -> Figure:
    """Contrastive learning in one picture: embeddings on the unit circle, the anchor pulled towards
    its positive (another view of the same image) and pushed away from the negatives (other images)."""
    fig, ax = plt.subplots(figsize=(5.2, 4.6))
    circle = np.linspace(0, 2 * np.pi, 300)
    ax.plot(np.cos(circle), np.sin(circle), color="lightgray", linewidth=1)
    anchor, positive = np.deg2rad(70), np.deg2rad(105)
    negatives = np.deg2rad([140, 200, 260, 330, 20])
    point = {"anchor": (np.cos(anchor), np.sin(anchor)), "positive": (np.cos(positive), np.sin(positive))}
    ax.scatter(*point["anchor"], s=140, marker="*", color="tab:blue", zorder=3, label="anchor: a view of image i")
    ax.scatter(*point["positive"], s=80, color="seagreen", zorder=3, label="positive: the other view of image i")
    ax.scatter(np.cos(negatives), np.sin(negatives), s=60, color="gray", zorder=3,
               label="negatives: views of other images")
    middle = np.deg2rad(87)
    ax.annotate("", (np.cos(middle), np.sin(middle)), point["positive"],
                arrowprops={"arrowstyle": "->", "color": "seagreen", "linewidth": 2})
    ax.text(1.08 * np.cos(positive), 1.08 * np.sin(positive) + 0.05, "pull together", color="seagreen",
            ha="center", fontsize=9)
    for angle in negatives:
        start = np.array([np.cos(angle), np.sin(angle)])
        away = start + 0.28 * (start - np.array(point["anchor"])) / np.linalg.norm(start - np.array(point["anchor"]))
        ax.annotate("", away, start, arrowprops={"arrowstyle": "->", "color": "gray"})
    ax.text(0, -0.1, "push apart", color="dimgray", ha="center", fontsize=9)
    ax.set_aspect("equal"), ax.axis("off")
    ax.set_xlim(-1.5, 1.5), ax.set_ylim(-1.45, 1.45)
    ax.legend(loc="lower center", bbox_to_anchor=(0.5, -0.18), fontsize=8, frameon=False)
    ax.set_title("embeddings of a batch on the unit sphere (here a circle)", fontsize=9)
    fig.tight_layout()
    return fig

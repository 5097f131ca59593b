"""The shared figures draw what they promise (panels, pixels, points)."""

import numpy as np
import pytest

from clr_lib import viz


def test_image_grid_shows_every_image_with_its_pixels():
    images = np.stack([np.full((8, 8, 3), v, np.uint8) for v in (0, 100, 200)])
    fig = viz.image_grid(images, titles=["a", "b", "c"], ncols=2)
    shown = [ax.images[0].get_array() for ax in fig.axes if ax.images]
    assert len(shown) == 3 and [int(s[0, 0, 0]) for s in shown] == [0, 100, 200]
    assert [ax.get_title() for ax in fig.axes if ax.images] == ["a", "b", "c"]


def test_view_pairs_clips_float_views_into_range():
    x = np.zeros((2, 4, 4, 3), np.float32)
    fig = viz.view_pairs(x, x + 300.0, x - 5.0)
    assert len(fig.axes) == 6
    assert fig.axes[2].images[0].get_array().max() == 255 and fig.axes[4].images[0].get_array().min() == 0


def test_similarity_heatmap_annotates_cells():
    fig = viz.similarity_heatmap(np.eye(3), labels=["x", "y", "z"])
    assert sorted(t.get_text() for t in fig.axes[0].texts) == ["0.00"] * 6 + ["1.00"] * 3


def test_training_curves_one_panel_per_metric_with_baselines():
    fig = viz.training_curves({"loss": [3, 2, 1], "val_knn_acc": [0.2, 0.3, 0.4]}, baselines={"supervised": 0.8})
    assert [ax.get_title() for ax in fig.axes] == ["loss", "val_knn_acc"]
    assert list(fig.axes[0].lines[0].get_ydata()) == [3, 2, 1]
    assert len(fig.axes[1].lines) == 2  # the curve and the baseline


@pytest.mark.parametrize("method", ["tsne", "umap"])
def test_embedding_2d_plots_every_point(method):
    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1], 30)
    feats = rng.normal(size=(60, 5)) + 5 * labels[:, None]
    fig = viz.embedding_2d(feats, labels, ["cat", "dog"], method=method)
    collections = fig.axes[0].collections
    assert sum(len(c.get_offsets()) for c in collections) == 60
    with pytest.raises(ValueError, match="umap' or 'tsne"):
        viz.embedding_2d(feats, labels, method="pca")

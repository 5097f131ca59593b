"""The shared figures draw what they promise (panels, pixels, points)."""

import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.container import ErrorbarContainer

from clr_lib import diagrams, viz


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


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


def test_alignment_uniformity_places_and_colours_each_run():
    align = {"t=0.1": 0.8, "t=0.5": 0.4, "untrained": 0.1}
    uniform = {"t=0.1": -3.5, "t=0.5": -2.0, "untrained": -0.5}
    fig = viz.alignment_uniformity(align, uniform, accuracy={"t=0.1": 0.6, "t=0.5": 0.5})
    ax = fig.axes[0]
    grey, coloured = ax.collections
    assert grey.get_offsets().tolist() == [[-0.5, 0.1]]  # x = uniformity, y = alignment
    assert coloured.get_offsets().tolist() == [[-3.5, 0.8], [-2.0, 0.4]]
    assert list(coloured.get_array()) == [0.6, 0.5]
    assert sorted(t.get_text() for t in ax.texts) == sorted(align)
    assert len(fig.axes) == 2  # the plot and its colour bar
    with pytest.raises(ValueError, match="same runs"):
        viz.alignment_uniformity({"a": 1.0}, {"b": 1.0})


def test_image_rows_labels_each_row_and_keeps_the_pixels():
    rows = {"weak": np.zeros((3, 4, 4, 3), np.uint8), "strong": np.full((3, 4, 4, 3), 200.0)}
    fig = viz.image_rows(rows, column_titles=["a", "b", "c"])
    assert len(fig.axes) == 6
    assert [ax.get_ylabel() for ax in fig.axes[::3]] == ["weak", "strong"]
    assert [ax.get_title() for ax in fig.axes[:3]] == ["a", "b", "c"]
    assert fig.axes[4].images[0].get_array()[0, 0, 0] == 200
    with pytest.raises(ValueError, match="same number of images"):
        viz.image_rows({"a": rows["weak"], "b": rows["weak"][:2]})


def test_metric_bars_draws_one_bar_per_run_with_its_value():
    fig = viz.metric_bars({"crop": 0.41, "color": 0.25}, baselines={"random encoder": 0.2})
    ax = fig.axes[0]
    assert [p.get_height() for p in ax.patches] == [0.41, 0.25]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["crop", "color"]
    assert sorted(t.get_text() for t in ax.texts) == ["25.0%", "41.0%", "random encoder"]
    assert len(ax.lines) == 1
    with pytest.raises(ValueError, match="at least one value"):
        viz.metric_bars({})


def test_metric_bars_with_seeds_draws_the_mean_and_one_sample_sd():
    fig = viz.metric_bars({"crop": [0.40, 0.42, 0.44], "color": [0.25, 0.25]})
    ax = fig.axes[0]
    assert np.allclose([p.get_height() for p in ax.patches], [0.42, 0.25])
    (errorbar,) = [c for c in ax.containers if isinstance(c, ErrorbarContainer)]
    segments = np.array(errorbar.lines[2][0].get_segments())  # one [[x, low], [x, high]] per bar
    assert np.allclose(segments[:, 1, 1] - segments[:, 0, 1], [2 * 0.02, 0.0])  # +- one sample sd (ddof=1)


def test_knn_curves_draw_one_line_per_run_and_the_baselines():
    fig = viz.knn_curves({"MoCo": {"val_knn_acc": [0.3, 0.4, 0.5]}, "SimCLR": {"val_knn_acc": [0.35, 0.45, 0.55]}},
                         baselines={"random encoder": 0.25, "SimCLR, chapter 5": 0.6})
    ax = fig.axes[0]
    lines = {line.get_label(): line for line in ax.lines}
    np.testing.assert_array_equal(lines["MoCo"].get_xydata(), [[1, 0.3], [2, 0.4], [3, 0.5]])
    assert np.allclose(lines["random encoder"].get_ydata(), 0.25)
    assert np.allclose(lines["SimCLR, chapter 5"].get_ydata(), 0.6)
    assert lines["random encoder"].get_linestyle() != lines["SimCLR, chapter 5"].get_linestyle()  # told apart
    with pytest.raises(ValueError, match="at least one history"):
        viz.knn_curves({})


def test_label_efficiency_plots_each_curve_on_a_log_axis_with_references():
    fig = viz.label_efficiency(
        {"classifier": {50000: 0.8, 500: 0.3, 5000: 0.5}, "kNN": {500: 0.25, 50000: 0.7}},
        references={"chance": 0.1}, total=50000,
    )
    ax = fig.axes[0]
    assert ax.get_xscale() == "log"
    assert list(ax.lines[0].get_xdata()) == [500, 5000, 50000] and list(ax.lines[0].get_ydata()) == [0.3, 0.5, 0.8]
    assert list(ax.lines[1].get_ydata()) == [0.25, 0.7]
    assert list(ax.lines[2].get_ydata()) == [0.1, 0.1]  # the reference line
    assert [t.get_text() for t in ax.get_xticklabels()] == ["500\n(1%)", "5,000\n(10%)", "50,000\n(100%)"]
    assert "80.0%" in [t.get_text() for t in ax.texts]
    with pytest.raises(ValueError, match="at least one curve"):
        viz.label_efficiency({})


def test_pair_distance_histograms_split_similar_from_dissimilar_pairs():
    distances = np.array([0.1, 0.2, 0.3, 1.5, 1.6, 1.7, 1.8])
    same = np.array([1, 1, 1, 0, 0, 0, 0])
    fig = viz.pair_distance_histograms({"before": (distances, same), "after": (distances * 2, same)}, margin=1.0, bins=4)
    assert [ax.get_title() for ax in fig.axes] == ["before", "after"]
    ax = fig.axes[0]
    similar, dissimilar = ax.containers  # one bar container per kind of pair, on shared bins
    heights = [np.array([bar.get_height() for bar in kind]) for kind in (similar, dissimilar)]
    widths = np.array([bar.get_width() for bar in similar])
    assert heights[0][0] > 0 and heights[0][-1] == 0 and heights[1][0] == 0 and heights[1][-1] > 0
    for h in heights:
        assert (h * widths).sum() == pytest.approx(1.0)  # densities
    assert list(ax.lines[0].get_xdata()) == [1.0, 1.0]  # the margin
    with pytest.raises(ValueError, match="pair labels must be 1"):
        viz.pair_distance_histograms({"x": (distances, same * 3)})
    with pytest.raises(ValueError, match="7 distances but 6"):
        viz.pair_distance_histograms({"x": (distances, same[:6])})


def test_retrieval_grid_rows_of_query_then_neighbors_coloured_by_class():
    queries = np.stack([np.full((4, 4, 3), v, np.uint8) for v in (10, 20)])
    neighbors = np.stack([np.stack([np.full((4, 4, 3), 100 * q + j, np.uint8) for j in range(3)]) for q in (1, 2)])
    fig = viz.retrieval_grid(queries, neighbors, [0, 1], np.array([[0, 1, 0], [1, 1, 0]]), ["cat", "dog"])
    assert len(fig.axes) == 2 * 4
    pixels = [int(ax.images[0].get_array()[0, 0, 0]) for ax in fig.axes]
    assert pixels == [10, 100, 101, 102, 20, 200, 201, 202]  # row by row: the query, then its neighbors in order
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == ["cat", "cat", "dog", "cat", "dog", "dog", "dog", "cat"]
    colours = [ax.title.get_color() for ax in fig.axes if ax not in (fig.axes[0], fig.axes[4])]
    assert colours == ["tab:green", "tab:red", "tab:green", "tab:green", "tab:green", "tab:red"]
    with pytest.raises(ValueError, match="both query_labels and neighbor_labels"):
        viz.retrieval_grid(queries, neighbors, query_labels=[0, 1])
    with pytest.raises(ValueError, match="same Q"):
        viz.retrieval_grid(queries[:1], neighbors)


def test_positive_rows_puts_queries_above_their_positives_with_cosines():
    queries = np.stack([np.full((8, 8, 3), v, np.uint8) for v in (10, 20, 30)])
    early = np.stack([np.full((4, 4, 3), v, np.uint8) for v in (11, 21, 31)])  # positives may be smaller views
    late = early + 1
    fig = viz.positive_rows(queries, {"early": (early, [0.5, 0.25, 1.0]), "late": (late, np.array([0.9, 0.8, 0.7]))},
                            column_titles=["a", "b", "c"])
    assert len(fig.axes) == 9
    assert [int(ax.images[0].get_array()[0, 0, 0]) for ax in fig.axes] == [10, 20, 30, 11, 21, 31, 12, 22, 32]
    assert [ax.get_xlabel() for ax in fig.axes[3:]] == ["cos 0.50", "cos 0.25", "cos 1.00",
                                                        "cos 0.90", "cos 0.80", "cos 0.70"]
    assert [ax.get_ylabel() for ax in fig.axes[::3]] == ["image", "early", "late"]
    with pytest.raises(ValueError, match="one positive image and one similarity per query"):
        viz.positive_rows(queries, {"early": (early[:2], [0.5, 0.25])})
    with pytest.raises(ValueError, match="at least one row"):
        viz.positive_rows(queries, {})


def test_pair_matrix_marks_each_views_positive_and_leaves_out_itself():
    roles = diagrams.pair_matrix(3)
    assert roles.shape == (6, 6)
    assert (np.diag(roles) == 0).all()
    positives = np.argwhere(roles == 2)
    np.testing.assert_array_equal(positives, [[0, 3], [1, 4], [2, 5], [3, 0], [4, 1], [5, 2]])
    assert (roles == 1).sum() == 6 * 4  # 2N - 2 negatives per view, as NT-Xent counts them
    with pytest.raises(ValueError, match="at least 2 images"):
        diagrams.pair_matrix(1)


def test_simclr_diagram_draws_the_pipeline_and_its_similarity_matrix():
    rng = np.random.default_rng(0)
    image, views = rng.integers(0, 256, (32, 32, 3)), (rng.integers(0, 256, (24, 24, 3)),) * 2
    fig = viz.simclr_diagram(image, views, n=4)
    texts = [t.get_text() for ax in fig.axes for t in ax.texts]
    assert texts.count("encoder f") == 2 and texts.count("head g") == 2
    assert any("NT-Xent" in t for t in texts)
    matrix = fig.axes[1].images[0].get_array()
    np.testing.assert_array_equal(matrix, diagrams.pair_matrix(4))
    assert len(fig.axes[0].images) == 3  # the image and its two views


def test_dcl_diagram_takes_the_positive_out_of_the_denominator_only():
    coupled, decoupled = diagrams.denominator_roles(3, False), diagrams.denominator_roles(3, True)
    np.testing.assert_array_equal(coupled == 2, decoupled == 3)  # the same positives ...
    assert not (decoupled == 2).any()  # ... none of them left in DCL's denominator
    np.testing.assert_array_equal(coupled == 1, decoupled == 1)  # the negatives are untouched
    fig = viz.dcl_diagram(n=3)
    np.testing.assert_array_equal(fig.axes[1].images[0].get_array(), decoupled)


def test_moco_and_nnclr_diagrams_name_their_parts():
    moco = [t.get_text() for t in viz.moco_diagram(queue_size=6).axes[0].texts]
    assert "query encoder\nf_q" in moco and "key encoder\nf_k" in moco and any("queue" in t for t in moco)
    assert sum(isinstance(p, plt.Rectangle) and p.get_facecolor()[:3] != (1, 1, 1)
               for p in viz.moco_diagram(queue_size=6).axes[0].patches) >= 6  # the six queue slots
    nnclr = viz.nnclr_diagram(support_size=8).axes[0]
    assert any("support set" in t.get_text() for t in nnclr.texts)
    greens = [p for p in nnclr.patches if p.get_facecolor()[:3] == pytest.approx((0.18, 0.545, 0.341), abs=0.01)]
    assert len(greens) == 1  # exactly one nearest neighbour

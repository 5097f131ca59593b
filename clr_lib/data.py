"""Data: CIFAR-10, your own image folders, class-balanced subsets and a synthetic data set.

* :data:`class_names`: CIFAR-10's classes in label order.
* :func:`load_cifar10`: CIFAR-10 as NumPy arrays, from ``CLR_DATA_DIR`` or Keras's download.
* :func:`load_image_folder`: the images of a folder or ``.zip`` (labels from subfolder names).
* :func:`subset`: a seeded, class-balanced subset.
* :func:`make_synthetic`: small generated images whose class is a texture, for fast tests.

Images are NHWC RGB ``uint8`` arrays (0..255). Labels are flat ``int64`` arrays of shape
``(N,)``; Keras's own ``cifar10.load_data()`` gives ``(N, 1)``, which we flatten.

Decoded folders are cached as ``.npz`` files in :func:`cache_dir` (``CLR_CACHE_DIR``,
default ``~/.cache/clr_lib``). That folder can be deleted at any time; it is rebuilt on
demand.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import tempfile
import textwrap
import warnings
import zipfile
from collections import Counter
from numbers import Integral, Real
from pathlib import Path
from typing import NamedTuple

import numpy as np
from PIL import Image
from tqdm import tqdm

DATA_DIR_VAR = "CLR_DATA_DIR"
CACHE_DIR_VAR = "CLR_CACHE_DIR"

class_names: tuple[str, ...] = (
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
)

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm")

_CACHE_VERSION = 1  # bump when what the cache holds changes: old cache files are then ignored
_MAX_NAMED = 20  # a warning names at most this many skipped files

_LAYOUT_HELP = (
    f"Set {DATA_DIR_VAR} to a folder or .zip in the layout train/<class>/*.jpg, test/<class>/*.jpg\n"
    f"(any image format; class folders {', '.join(class_names)}), e.g.\n"
    f"    export {DATA_DIR_VAR}=$HOME/data/cifar10-jpeg.zip\n"
    f'or, in Python before loading: os.environ["{DATA_DIR_VAR}"] = "/path/to/cifar10"'
)


class DataNotFoundError(FileNotFoundError):
    """No images where they were looked for: a missing path, a folder without images, or no CIFAR-10 source."""


class ImageFolder(NamedTuple):
    """The images of a folder, as returned by :func:`load_image_folder`; all fields in the same order.

    * ``images``: ``uint8`` array ``(N, H, W, 3)``, RGB.
    * ``labels``: ``int64`` array ``(N,)`` of indices into ``class_names``; ``None`` when unlabeled.
    * ``class_names``: the class subfolder names, sorted (label ``i`` is ``class_names[i]``);
      ``()`` when unlabeled.
    * ``files``: the ``N`` file paths, relative to the folder, ``/``-separated.
    """

    images: np.ndarray
    labels: np.ndarray | None
    class_names: tuple[str, ...]
    files: tuple[str, ...]


# --- reading a folder or a zip --------------------------------------------------------------------


class _Source:
    """A folder or a .zip archive, seen as a sorted list of relative, '/'-separated file names.

    Hidden files and ``__MACOSX`` entries are ignored. Zip members with unsafe names (``..`` or
    absolute paths) are skipped and noted in ``skipped``. Zip members are only ever read into
    memory, never extracted.
    """

    def __init__(self, path: str | os.PathLike, label: str):
        self.label = label  # how messages name this source
        self.path = Path(path).expanduser()
        if not self.path.exists():
            relative = "" if self.path.is_absolute() else f" (relative to the working directory {os.getcwd()})"
            raise DataNotFoundError(f"{label} does not exist{relative}.")
        self.path = self.path.resolve()
        self.is_zip = self.path.is_file() and zipfile.is_zipfile(self.path)
        if self.path.is_file() and not self.is_zip:
            if self.path.suffix.lower() == ".zip":
                raise ValueError(f"{label} is not a valid zip archive (truncated or corrupt?); re-create it.")
            raise ValueError(f"{label} is neither a folder nor a .zip archive; extract it, or zip it, first.")
        self.skipped: list[str] = []
        self._names: list[str] | None = None  # listed on first use: a cache hit on a zip needs no listing

    def files(self, prefix: str = "") -> list[str]:
        """The sorted names of the files under ``prefix`` (e.g. 'train/'), relative to it."""
        if self._names is None:
            names = self._list_zip() if self.is_zip else self._list_folder()
            self._names = sorted(name for name in names if not _ignored(name))
        return [name[len(prefix):] for name in self._names if name.startswith(prefix)]

    def _list_folder(self) -> list[str]:
        names = []
        for folder, subfolders, files in os.walk(self.path):
            subfolders[:] = [s for s in subfolders if not _ignored(s)]
            relative = Path(folder).relative_to(self.path).as_posix()
            names += [f if relative == "." else f"{relative}/{f}" for f in files]
        return names

    def _list_zip(self) -> list[str]:
        with zipfile.ZipFile(self.path) as archive:
            names = [info.filename for info in archive.infolist() if not info.is_dir()]
        safe = []
        for name in names:
            if name.startswith(("/", "\\")) or ".." in re.split(r"[/\\]", name) or re.match(r"[A-Za-z]:", name):
                self.skipped.append(f"{name} (unsafe name in a zip archive)")
            else:
                safe.append(name)
        return safe

    def fingerprint(self, prefix: str) -> str:
        """A string that changes when the files under ``prefix`` change (for a zip: when the zip does)."""
        if self.is_zip:
            stat = self.path.stat()
            return f"zip|{self.path}|{stat.st_size}|{stat.st_mtime_ns}"
        folder = os.path.join(self.path, prefix)  # plain strings: much faster than Path for 60,000 files
        stats = [(name, os.stat(folder + name)) for name in self.files(prefix)]
        return f"dir|{self.path}|" + "|".join(f"{n}:{s.st_size}:{s.st_mtime_ns}" for n, s in stats)

    def decode_all(self, names: list[str], size: tuple[int, int] | None, where: str) -> list[np.ndarray | str]:
        """Each file decoded to an RGB array, or the reason it could not be (a string)."""
        results: list[np.ndarray | str] = []
        archive = zipfile.ZipFile(self.path) if self.is_zip else None
        try:
            for name in tqdm(names, desc=f"Decoding {where}", unit="img", mininterval=0.5):
                try:
                    content = archive.read(name) if archive else (self.path / name).read_bytes()
                    results.append(_decode(content, size))
                except Exception as error:  # noqa: BLE001 - any unreadable file is skipped, with its reason
                    results.append(f"{type(error).__name__}: {error}")
        finally:
            if archive:
                archive.close()
        return results


def _ignored(name: str) -> bool:
    return any(part.startswith(".") or part == "__MACOSX" for part in name.split("/"))


def _decode(data: bytes, size: tuple[int, int] | None) -> np.ndarray:
    """One image file's bytes as an RGB uint8 array, resized to ``size`` = (height, width) if given."""
    with Image.open(io.BytesIO(data)) as image:
        if image.mode.startswith("I;16"):  # 16-bit grayscale: keep the top 8 bits
            image = Image.fromarray((np.asarray(image) >> 8).astype(np.uint8))
        if image.mode != "RGB":  # via RGBA, so palette transparency converts cleanly; alpha is dropped
            image = image.convert("RGBA").convert("RGB")
        if size is not None and image.size != (size[1], size[0]):
            image = image.resize((size[1], size[0]), Image.Resampling.BICUBIC)
        return np.asarray(image, dtype=np.uint8)


def _layout(files: list[str], labeled: bool | None, where: str) -> tuple[list[str], np.ndarray | None, tuple[str, ...]]:
    """Which image files to read, their labels and the class names, from the folder structure."""
    top = [f for f in files if "/" not in f]
    nested = [f for f in files if "/" in f]
    if labeled is None:
        if top and nested:
            raise ValueError(
                f"{where} holds images both at its top level (e.g. {top[0]}) and in subfolders (e.g. {nested[0]}). "
                "Pass labeled=True to use the subfolders as classes (after moving the top-level images into them), "
                "or labeled=False to read every image without labels."
            )
        labeled = bool(nested)
    if not labeled:
        return files, None, ()
    if top:
        raise ValueError(
            f"{where}: labeled=True, but {len(top)} images are not in a class subfolder (e.g. {top[0]}). "
            "Move them into class subfolders, or pass labeled=False."
        )
    folders = [f.split("/", 1)[0] for f in nested]
    names = tuple(sorted(set(folders)))
    index = {name: i for i, name in enumerate(names)}
    return nested, np.array([index[f] for f in folders], dtype=np.int64), names


def _image_size(image_size: int | tuple[int, int] | None) -> tuple[int, int] | None:
    """``image_size`` as (height, width), checked."""
    if image_size is None:
        return None
    size = (image_size, image_size) if isinstance(image_size, Integral) else tuple(image_size)
    if len(size) != 2 or not all(isinstance(s, Integral) and not isinstance(s, bool) and s > 0 for s in size):
        raise ValueError(f"image_size must be a positive int or a (height, width) pair of them, got {image_size!r}.")
    return int(size[0]), int(size[1])


def _decode_folder(
    source: _Source, prefix: str, size: tuple[int, int] | None, labeled: bool | None, where: str
) -> tuple[ImageFolder, list[str]]:
    """Decode the images under ``prefix``; also returns the skipped files, with reasons."""
    names = source.files(prefix)
    images = [name for name in names if name.lower().endswith(IMAGE_EXTENSIONS)]
    images_set = set(images)
    skipped = source.skipped + [f"{name} (not an image file)" for name in names if name not in images_set]
    if not images:
        top = sorted({name.split("/")[0] for name in source.files()})
        raise DataNotFoundError(
            f"No image files in {where} (looked for {', '.join(IMAGE_EXTENSIONS)}); "
            f"the top level of {source.label} holds: {', '.join(top[:_MAX_NAMED]) or 'nothing'}."
        )
    files, labels, names_of_classes = _layout(images, labeled, where)
    results = source.decode_all([prefix + f for f in files], size, where)
    skipped += [f"{f} ({r})" for f, r in zip(files, results) if isinstance(r, str)]
    keep = [i for i, r in enumerate(results) if not isinstance(r, str)]
    if not keep:
        raise DataNotFoundError(f"None of the {len(files)} image files in {where} could be read: {skipped[-1]}.")
    _check_sizes([results[i] for i in keep], [files[i] for i in keep], where)
    folder = ImageFolder(
        images=np.stack([results[i] for i in keep]),
        labels=None if labels is None else labels[keep],
        class_names=names_of_classes,
        files=tuple(files[i] for i in keep),
    )
    return folder, skipped


def _check_sizes(arrays: list[np.ndarray], files: list[str], where: str) -> None:
    sizes = Counter(a.shape[:2] for a in arrays)
    if len(sizes) > 1:
        example: dict[tuple[int, int], str] = {}
        for a, f in zip(arrays, files):
            example.setdefault(a.shape[:2], f)
        found = ", ".join(f"{h}x{w} ({count} images, e.g. {example[(h, w)]})" for (h, w), count in sizes.most_common())
        raise ValueError(
            f"The images in {where} have different sizes (height x width): {found}. "
            "Pass image_size to resize them all, e.g. image_size=32 or image_size=(height, width)."
        )


def _warn_skipped(skipped: list[str], where: str) -> None:
    if skipped:
        named = "; ".join(skipped[:_MAX_NAMED])
        more = f"; and {len(skipped) - _MAX_NAMED} more" if len(skipped) > _MAX_NAMED else ""
        warnings.warn(f"Skipped {len(skipped)} file(s) in {where}: {named}{more}", stacklevel=4)


# --- the cache ------------------------------------------------------------------------------------


def cache_dir() -> Path:
    """The folder for decoded arrays: ``$CLR_CACHE_DIR``, else ``~/.cache/clr_lib``."""
    return Path(os.environ.get(CACHE_DIR_VAR) or Path.home() / ".cache" / "clr_lib").expanduser()


def _cache_path(source: _Source, prefix: str, size: tuple[int, int] | None, labeled: bool | None) -> Path:
    """The cache file for these images and options: its name holds a hash of them."""
    key = repr((_CACHE_VERSION, source.fingerprint(prefix), prefix, size, labeled))
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{source.path.name}-{prefix}").strip("_-")
    return cache_dir() / f"{stem}-{hashlib.sha256(key.encode()).hexdigest()[:16]}.npz"


def _read_cache(path: Path) -> tuple[ImageFolder, list[str]] | None:
    """The cached folder and its skipped files, or None; an unreadable cache file is reported and ignored."""
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as stored:
            images, files = stored["images"], tuple(stored["files"].tolist())
            labels = stored["labels"] if "labels" in stored.files else None
            folder = ImageFolder(images, labels, tuple(stored["class_names"].tolist()), files)
            skipped = stored["skipped"].tolist()
        lengths = {len(images), len(files), len(files if labels is None else labels)}
        if images.dtype != np.uint8 or images.ndim != 4 or len(lengths) > 1:
            raise ValueError(f"unexpected content: images {images.dtype} {images.shape}, {len(files)} files")
        return folder, skipped
    except Exception as error:  # noqa: BLE001 - whatever is wrong with it, the cache is rebuilt
        message = f"Cache file {path} is unreadable ({type(error).__name__}: {error}); rebuilding it."
        warnings.warn(message, stacklevel=4)
        return None


def _write_cache(path: Path, folder: ImageFolder, skipped: list[str]) -> None:
    """Save atomically (a temporary file, then a rename), so an interrupted write leaves no broken cache."""
    arrays = {
        "images": folder.images,
        "files": np.array(folder.files, dtype=str),
        "class_names": np.array(folder.class_names, dtype=str),
        "skipped": np.array(skipped, dtype=str),
    }
    if folder.labels is not None:
        arrays["labels"] = folder.labels
    temporary = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=path.stem + ".", suffix=".tmp")
        with os.fdopen(handle, "wb") as file:
            np.savez(file, **arrays)
        os.replace(temporary, path)
    except BaseException as error:
        if temporary and os.path.exists(temporary):
            os.remove(temporary)
        if not isinstance(error, OSError):
            raise
        message = f"Could not write the cache file {path} ({error}); the next load will decode again."
        warnings.warn(message, stacklevel=4)


def _read_folder(
    source: _Source, prefix: str, image_size: int | tuple[int, int] | None, labeled: bool | None, cache: bool
) -> ImageFolder:
    """The images under ``prefix`` ('' or 'sub/folder/') of a source: from the cache, else decoded (and cached)."""
    where = source.label + (f" ({prefix})" if prefix else "")
    size = _image_size(image_size)
    path = _cache_path(source, prefix, size, labeled) if cache else None
    cached = _read_cache(path) if path else None
    folder, skipped = cached or _decode_folder(source, prefix, size, labeled, where)
    if path and not cached:
        _write_cache(path, folder, skipped)
    _warn_skipped(skipped, where)
    return folder


# --- public loaders -------------------------------------------------------------------------------


def load_image_folder(
    path: str | os.PathLike,
    image_size: int | tuple[int, int] | None = None,
    labeled: bool | None = None,
    cache: bool = True,
) -> ImageFolder:
    """Read every image of a folder or ``.zip`` archive into one array (see :class:`ImageFolder`).

    Labeled layout: ``path/<class>/**/<image>``; the classes are the subfolder names, sorted.
    Unlabeled layout: ``path/<image>`` (with ``labeled=False``: every image, subfolders ignored).
    ``labeled=None`` takes the layout the folder has.

    Images come in sorted file-path order (so grouped by class), converted to RGB (alpha is
    dropped). Images of different sizes need ``image_size`` (an int for square, or
    ``(height, width)``): all are resized to it. Hidden files and ``__MACOSX`` are ignored;
    non-image and unreadable files are skipped with a warning. A zip is read in memory:
    nothing is extracted. With ``cache=True`` the decoded arrays are kept in :func:`cache_dir`,
    so the next call with the same files and options is fast.
    """
    if labeled not in (None, True, False):
        raise ValueError(f"labeled must be None, True or False, got {labeled!r}.")
    return _read_folder(_Source(path, str(path)), "", image_size, labeled, cache)


def load_cifar10() -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """CIFAR-10 as ``(x_train, y_train), (x_test, y_test)``: 50,000 and 10,000 images.

    Images are ``uint8 (N, 32, 32, 3)``; labels are flat ``int64 (N,)`` indices into
    :data:`class_names`.

    Source: the folder or ``.zip`` named by ``CLR_DATA_DIR`` (layout ``train/<class>/*``,
    ``test/<class>/*``), decoded once and then cached; its images come in a fixed shuffled
    order, classes mixed as in Keras's copy. Without ``CLR_DATA_DIR``: Keras's own download,
    ``keras.datasets.cifar10.load_data()``. A ``CLR_DATA_DIR`` that is set but wrong is an
    error, never a silent fallback to the download.
    """
    data_dir = os.environ.get(DATA_DIR_VAR, "").strip()
    if data_dir:
        return _cifar10_from_folder(data_dir)
    try:
        import keras

        (x_train, y_train), (x_test, y_test) = keras.datasets.cifar10.load_data()
    except Exception as error:  # noqa: BLE001 - every download failure gets the same advice
        reason = f"{type(error).__name__}: {error}".splitlines()[0]
        raise DataNotFoundError(
            f"CIFAR-10 could not be loaded: {DATA_DIR_VAR} is not set, and Keras could not download it ({reason}).\n"
            "Fix it in one of two ways:\n"
            f"  1. {textwrap.indent(_LAYOUT_HELP, '     ').lstrip()}\n"
            "  2. Run with internet access, so that keras.datasets.cifar10.load_data() can download\n"
            "     CIFAR-10 (about 170 MB, once; Keras keeps it in ~/.keras/datasets)."
        ) from None
    return (x_train, y_train.reshape(-1).astype(np.int64)), (x_test, y_test.reshape(-1).astype(np.int64))


def _cifar10_from_folder(data_dir: str) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    label = f"{DATA_DIR_VAR}={data_dir}"
    splits = []
    try:
        source = _Source(data_dir, label)
        for split in ("train/", "test/"):
            folder = _read_folder(source, split, None, True, cache=True)
            if folder.class_names != class_names:  # CIFAR-10's label order is the sorted order of the names
                missing = sorted(set(class_names) - set(folder.class_names))
                extra = sorted(set(folder.class_names) - set(class_names))
                raise ValueError(
                    f"{label}: the class folders of {split} are not CIFAR-10's "
                    f"(missing: {missing}, unexpected: {extra})."
                )
            if folder.images.shape[1:3] != (32, 32):
                raise ValueError(f"{label}: the images of {split} are {folder.images.shape[1:3]}, not 32x32 pixels.")
            order = np.random.default_rng(0).permutation(len(folder.images))
            splits.append((folder.images[order], folder.labels[order]))
    except (DataNotFoundError, ValueError) as error:
        raise type(error)(f"{error}\n{_LAYOUT_HELP}\nOr unset {DATA_DIR_VAR} to let Keras download CIFAR-10.") from None
    return splits[0], splits[1]


# --- subsets and synthetic data -------------------------------------------------------------------


def subset(x: np.ndarray, y: np.ndarray, n: int | float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A class-balanced random subset ``(x_sub, y_sub)`` of ``n`` examples.

    ``n`` is a number of examples (int) or a fraction of the data (float in (0, 1], rounded
    down). Every class gets ``n // num_classes`` examples; when ``n`` is not a multiple of
    the number of classes, the first ``n % num_classes`` classes (in label order) get one more.
    Examples are drawn without replacement and returned in a random order (classes mixed);
    the same ``seed`` gives the same subset in the same order. ``y`` must be flat, ``(N,)``.
    """
    x, y = np.asarray(x), np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"y must be a flat array of labels, shape (N,), got shape {y.shape}; pass y.reshape(-1).")
    if len(x) != len(y) or len(y) == 0:
        raise ValueError(f"x and y must have the same, non-zero length; got {len(x)} and {len(y)}.")
    if isinstance(n, bool) or not isinstance(n, Real):
        raise TypeError(f"n must be an int (a number of examples) or a float in (0, 1] (a fraction), got {n!r}.")
    requested = n
    if not isinstance(n, Integral):
        if not 0 < n <= 1:
            raise ValueError(f"A fraction n must be in (0, 1], got {n}; pass an int for a number of examples.")
        n = int(n * len(y))
    if n <= 0:
        raise ValueError(f"n must be positive, got {requested}.")
    classes, counts = np.unique(y, return_counts=True)
    wanted = np.full(len(classes), int(n) // len(classes)) + (np.arange(len(classes)) < int(n) % len(classes))
    short = np.flatnonzero(wanted > counts)
    if short.size:
        c = short[0]
        raise ValueError(
            f"A balanced subset of {n} examples needs {wanted[c]} examples of class {classes[c]}, "
            f"but it has only {counts[c]}; "
            f"use n <= {counts.min() * len(classes)}."
        )
    rng = np.random.default_rng(seed)
    chosen = np.concatenate([rng.choice(np.flatnonzero(y == c), k, replace=False) for c, k in zip(classes, wanted)])
    chosen = rng.permutation(chosen)
    return x[chosen], y[chosen]


SYNTHETIC_PATTERNS = ("horizontal stripes", "vertical stripes", "checkerboard", "rings", "diagonal stripes", "grid")


def _pattern(kind: int, x: np.ndarray, y: np.ndarray, rng: np.random.Generator, m: int) -> np.ndarray:
    """``m`` images of pattern ``kind``, with random frequency, phase and position; values in [-1, 1]."""
    frequency = 2 * np.pi * rng.uniform(3.0, 6.0, (m, 1, 1))  # 3 to 6 periods across the image
    phase_a, phase_b = rng.uniform(0, 2 * np.pi, (2, m, 1, 1))
    if kind == 0:
        return np.sin(frequency * y + phase_a)
    if kind == 1:
        return np.sin(frequency * x + phase_a)
    if kind == 2:
        return np.sin(frequency * x + phase_a) * np.sin(frequency * y + phase_b)
    if kind == 3:
        cx, cy = rng.uniform(0.2, 0.8, (2, m, 1, 1))
        return np.sin(frequency * np.hypot(x - cx, y - cy) + phase_a)
    if kind == 4:
        slope = rng.choice([-1.0, 1.0], (m, 1, 1))  # either diagonal, so the class survives horizontal flips
        return np.sin(frequency * (x + slope * y) / np.sqrt(2) + phase_a)
    return (np.sin(frequency * x + phase_a) + np.sin(frequency * y + phase_b)) / 2


def make_synthetic(
    n: int = 1000, image_size: int = 32, num_classes: int = 4, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """A small generated data set ``(x, y)``: ``uint8 (n, image_size, image_size, 3)``, ``int64 (n,)``.

    Class ``k`` is the texture ``SYNTHETIC_PATTERNS[k]`` (horizontal stripes, vertical stripes,
    checkerboard, rings, diagonal stripes, grid): a structure that survives random crops,
    horizontal flips, colour jitter and grayscale. The nuisances are random per image:
    frequency, phase, ring centre, the two colours, pixel noise; so the mean colour says
    nothing about the class. Classes are balanced (counts differ by at most one) and
    shuffled; the same arguments give the same data.
    """
    if not 1 <= num_classes <= len(SYNTHETIC_PATTERNS):
        raise ValueError(f"num_classes must be between 1 and {len(SYNTHETIC_PATTERNS)}, got {num_classes}.")
    if n < 1 or image_size < 8:
        raise ValueError(f"Need n >= 1 and image_size >= 8, got n={n}, image_size={image_size}.")
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(n) % num_classes).astype(np.int64)
    y, x = np.mgrid[0:image_size, 0:image_size] / image_size  # pixel coordinates in [0, 1)
    wave = np.empty((n, image_size, image_size))
    for kind in range(num_classes):
        members = labels == kind
        wave[members] = _pattern(kind, x, y, rng, int(members.sum()))
    dark = rng.uniform(0.0, 0.45, (n, 1, 1, 3))  # every channel of `light` is brighter: visible in grayscale too
    light = rng.uniform(0.55, 1.0, (n, 1, 1, 3))
    images = dark + (0.5 + 0.5 * wave[..., None]) * (light - dark) + rng.normal(0, 0.03, (n, image_size, image_size, 3))
    return np.round(np.clip(images, 0, 1) * 255).astype(np.uint8), labels

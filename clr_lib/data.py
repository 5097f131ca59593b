"""Data: CIFAR-10, your own image folders, class-balanced subsets and a synthetic data set.

* :data:`class_names`: CIFAR-10's classes in label order.
* :func:`load_cifar10`: CIFAR-10 as NumPy arrays, from ``CLR_DATA_DIR`` or Keras's download.
* :func:`load_image_folder`: the images of a folder or ``.zip`` (labels from subfolder names).
* :func:`subset`: a seeded, class-balanced subset.
* :func:`make_synthetic`: small generated images whose class is a texture, for fast tests.
* :func:`write_digit_folder`: an example folder of unlabeled images of many sizes, made offline.

Images are NHWC RGB ``uint8`` arrays (0..255). Labels are flat ``int64`` arrays of shape
``(N,)``; Keras's own ``cifar10.load_data()`` gives ``(N, 1)``, which we flatten.

Decoded folders are cached as ``.npz`` files in :func:`cache_dir` (``CLR_CACHE_DIR``,
default ``~/.cache/clr_lib``; never inside the folder being read). That folder can be
deleted at any time; it is rebuilt on demand.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import io
import os
import re
import secrets
import stat
import textwrap
import time
import warnings
import zipfile
from collections import Counter
from numbers import Integral, Real
from pathlib import Path
from typing import NamedTuple

import numpy as np
from PIL import Image
from tqdm import tqdm

from clr_lib.checks import is_positive_int

DATA_DIR_VAR = "CLR_DATA_DIR"
CACHE_DIR_VAR = "CLR_CACHE_DIR"

class_names: tuple[str, ...] = (
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
)

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm")

MAX_IMAGE_BYTES = 64 * 2**20  # a larger file (or zip member, once inflated) is skipped unread, with a warning

_CACHE_VERSION = 1  # bump when what the cache holds changes: old cache files are then ignored
_MAX_NAMED = 20  # a warning names at most this many skipped files
_STALE_SECONDS = 3600  # a temporary cache file this old was left by a killed process: a later write removes it
_TEMPORARY = re.compile(r".+-[0-9a-f]{16}\.[a-z0-9_]{8,16}\.tmp")  # _write_cache's '<cache file stem>.<random>.tmp'

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

    Hidden files and ``__MACOSX`` entries are ignored. In a folder, symbolic links are followed,
    to files and to folders, except a link back to a folder it is inside (a loop); only regular
    files are listed, so a FIFO or a device is never opened. Zip members are only ever read into
    memory, never extracted. Whatever is left out for a reason (a FIFO, a broken link, an
    unsafe zip name...) is noted in ``skipped`` as a (name, reason) pair.
    """

    def __init__(self, path: str | os.PathLike, label: str):
        if not str(path).strip():
            raise ValueError(f"The data path is empty ({path!r}); pass a folder or a .zip archive.")
        self.label = label  # how messages name this source
        self.path = Path(path).expanduser()
        if not self.path.exists():
            relative = "" if self.path.is_absolute() else f" (relative to the working directory {os.getcwd()})"
            raise DataNotFoundError(f"{label} does not exist{relative}.")
        self.path = self.path.resolve()
        self.is_zip = not self.path.is_dir()
        self._members = _zip_members(self.path, label) if self.is_zip else []
        self._stats: dict[str, tuple[int, int]] = {}  # a folder's files: name -> (size, modification time in ns)
        self.skipped: list[tuple[str, str]] = []
        self._names: list[str] | None = None  # listed on first use: a cache hit on a zip needs no listing

    def files(self, prefix: str = "") -> list[str]:
        """The sorted names of the files under ``prefix`` (e.g. 'train/'), relative to it."""
        if self._names is None:
            self._names = sorted(self._list_zip() if self.is_zip else self._list_folder())
        return [name[len(prefix):] for name in self._names if name.startswith(prefix)]

    def _list_folder(self) -> list[str]:
        root = self.path.stat()
        pending = [("", str(self.path), frozenset({(root.st_dev, root.st_ino)}))]  # (name, path, folders it is in)
        while pending:
            relative, folder, ancestors = pending.pop()
            try:
                with os.scandir(folder) as listing:
                    entries = sorted((e for e in listing if not _ignored(e.name)), key=lambda e: e.name)
            except OSError as error:
                self.skipped.append((relative or "./", f"unreadable folder: {type(error).__name__}: {error.strerror}"))
                continue
            for entry in entries:
                name = relative + entry.name
                try:
                    info = entry.stat()  # follows symbolic links
                except OSError as error:
                    self.skipped.append((name, _stat_problem(entry, error)))
                    continue
                if stat.S_ISDIR(info.st_mode):
                    if (info.st_dev, info.st_ino) in ancestors:
                        self.skipped.append((name + "/", "symbolic link loop: a link to a folder it is inside"))
                    else:
                        pending.append((name + "/", entry.path, ancestors | {(info.st_dev, info.st_ino)}))
                elif stat.S_ISREG(info.st_mode):
                    self._stats[name] = (info.st_size, info.st_mtime_ns)
                else:
                    self.skipped.append((name, "not a regular file (a FIFO, socket or device)"))
        return list(self._stats)

    def _list_zip(self) -> list[str]:
        counts = Counter(info.filename for info in self._members)
        names = []
        for name, count in counts.items():
            if name.startswith(("/", "\\")) or ".." in re.split(r"[/\\]", name) or re.match(r"[A-Za-z]:", name):
                self.skipped.append((name, "unsafe name in a zip archive"))
            elif not _ignored(name):
                names.append(name)
                if count > 1:
                    duplicate = f"{count} members of this name in the zip archive; only the last is read"
                    self.skipped.append((name, duplicate))
        return names

    def fingerprint(self, prefix: str) -> str:
        """A string that changes when the files under ``prefix`` change.

        For a zip: every member's name, size and CRC-32 from the archive's directory (so a zip
        replaced by other content of the same size and time is noticed); for a folder: every
        file's name, size and modification time.
        """
        if self.is_zip:
            members = [f"{i.filename}:{i.file_size}:{i.CRC}" for i in self._members if i.filename.startswith(prefix)]
            return f"zip|{self.path}|" + "|".join(members)
        stats = [(name, self._stats[prefix + name]) for name in self.files(prefix)]
        return f"dir|{self.path}|" + "|".join(f"{n}:{size}:{mtime}" for n, (size, mtime) in stats)

    def decode_all(self, names: list[str], size: tuple[int, int] | None, where: str) -> list[np.ndarray | str]:
        """Each file decoded to an RGB array, or the reason it could not be (a string)."""
        results: list[np.ndarray | str] = []
        archive = zipfile.ZipFile(self.path) if self.is_zip else None
        try:
            for name in tqdm(names, desc=f"Decoding {where}", unit="img", mininterval=0.5):
                try:
                    results.append(_decode(self._read(archive, name), size))
                except _TooLarge as error:
                    results.append(str(error))
                except Exception as error:  # noqa: BLE001 - any unreadable file is skipped, with its reason
                    results.append(f"{type(error).__name__}: {error}")
        finally:
            if archive:
                archive.close()
        return results

    def _read(self, archive: zipfile.ZipFile | None, name: str) -> bytes:
        """A file's bytes, never more than its listed size (a zip member's header, a file's stat).

        A file listed as over :data:`MAX_IMAGE_BYTES` is not read at all.
        """
        limit = MAX_IMAGE_BYTES
        size = archive.getinfo(name).file_size if archive else self._stats[name][0]
        if size > limit:
            raise _TooLarge(f"too large: {size:,} bytes; the limit is clr_lib.data.MAX_IMAGE_BYTES = {limit:,}")
        with archive.open(name) if archive else open(os.path.join(self.path, name), "rb") as file:
            content = file.read(size + 1)  # bounded even if the header lies: a zip bomb is not inflated whole
        if len(content) > size:
            raise OSError(f"it grew while being read, past the {size:,} bytes it had when listed")
        return content


class _TooLarge(Exception):
    """A file over :data:`MAX_IMAGE_BYTES`; the message is the reason a warning gives."""


def _zip_members(path: Path, label: str) -> list[zipfile.ZipInfo]:
    """The files in a zip archive's directory; a clear error when ``path`` is not a readable zip."""
    if not path.is_file():
        raise ValueError(f"{label} is a special file (a FIFO, socket or device), neither a folder nor a .zip archive.")
    try:
        with zipfile.ZipFile(path) as archive:
            return [info for info in archive.infolist() if not info.is_dir()]
    except (zipfile.BadZipFile, NotImplementedError, ValueError, EOFError) as error:
        reason = f"{type(error).__name__}: {error}"
        if path.suffix.lower() == ".zip":
            message = f"{label} is not a valid zip archive ({reason}; truncated or corrupt?); re-create it."
        else:
            message = f"{label} is neither a folder nor a .zip archive ({reason}); extract it, or zip it, first."
        raise ValueError(message) from None


def _stat_problem(entry: os.DirEntry, error: OSError) -> str:
    """Why a folder entry cannot be read, for a warning."""
    if entry.is_symlink() and error.errno == errno.ENOENT:
        return "broken symbolic link: its target does not exist"
    if error.errno == errno.ELOOP:
        return "symbolic link loop"
    return f"unreadable: {type(error).__name__}: {error.strerror}"


def _ignored(name: str) -> bool:
    return any(part.startswith(".") or part == "__MACOSX" for part in name.split("/"))


def _decode(data: bytes, size: tuple[int, int] | None) -> np.ndarray:
    """One image file's bytes as an RGB uint8 array, resized to ``size`` = (height, width) if given."""
    with Image.open(io.BytesIO(data)) as image:
        if image.mode == "I" or image.mode.startswith("I;16"):  # 16-bit grayscale: keep the top 8 bits
            # (Pillow 10 opens a 16-bit PNG as 32-bit mode "I", later versions as "I;16")
            image = Image.fromarray(np.clip(np.asarray(image, np.int64) >> 8, 0, 255).astype(np.uint8))
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
    try:
        size = (image_size, image_size) if isinstance(image_size, Integral) else tuple(image_size)
    except TypeError:  # neither an int nor a pair, e.g. 32.0
        size = ()
    if len(size) != 2 or not all(is_positive_int(s) for s in size):
        raise ValueError(f"image_size must be a positive int or a (height, width) pair of them, got {image_size!r}.")
    return int(size[0]), int(size[1])


def _decode_folder(
    source: _Source, prefix: str, size: tuple[int, int] | None, labeled: bool | None, where: str
) -> tuple[ImageFolder, list[str]]:
    """Decode the images under ``prefix``; also returns the skipped files, with reasons."""
    names = source.files(prefix)
    images = [name for name in names if name.lower().endswith(IMAGE_EXTENSIONS)]
    images_set = set(images)
    skipped = [f"{name[len(prefix):]} ({reason})" for name, reason in source.skipped if name.startswith(prefix)]
    skipped += [f"{name} (not an image file)" for name in names if name not in images_set]
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
    return Path(os.environ.get(CACHE_DIR_VAR, "").strip() or Path.home() / ".cache" / "clr_lib").expanduser()


class _CacheInsideData(ValueError):
    """The cache folder is inside the folder being read."""


def _cache_path(source: _Source, prefix: str, size: tuple[int, int] | None, labeled: bool | None) -> Path:
    """The cache file for these images and options: its name holds a hash of them.

    A cache folder inside the source folder is an error: each load would add a file to the data.
    """
    folder = cache_dir().resolve()
    if not source.is_zip and folder.is_relative_to(source.path):
        fix = (f"point {CACHE_DIR_VAR} at a folder outside it, or unset it (the default is ~/.cache/clr_lib)"
               if os.environ.get(CACHE_DIR_VAR, "").strip() else f"set {CACHE_DIR_VAR} to a folder outside it")
        raise _CacheInsideData(
            f"The cache folder {folder} is inside the data folder {source.path}, so every load would add "
            f"a cache file to the data it reads; {fix}."
        )
    key = repr((_CACHE_VERSION, MAX_IMAGE_BYTES, source.fingerprint(prefix), prefix, size, labeled))
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{source.path.name}-{prefix}").strip("_-")
    return folder / f"{stem}-{hashlib.sha256(key.encode()).hexdigest()[:16]}.npz"


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
    """Save atomically (a temporary file, then a rename), so an interrupted write leaves no broken cache.

    The temporary file is named before it exists, so any exception (a KeyboardInterrupt too)
    removes it; one left by a killed process is removed by a later write, once an hour old.
    """
    arrays = {
        "images": folder.images,
        "files": np.array(folder.files, dtype=str),
        "class_names": np.array(folder.class_names, dtype=str),
        "skipped": np.array(skipped, dtype=str),
    }
    if folder.labels is not None:
        arrays["labels"] = folder.labels
    temporary = path.with_name(f"{path.stem}.{secrets.token_hex(8)}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        _remove_stale_temporaries(path.parent)
        with open(temporary, "xb") as file:
            np.savez(file, **arrays)
        os.replace(temporary, path)
    except BaseException as error:
        with contextlib.suppress(OSError):
            os.remove(temporary)
        if not isinstance(error, OSError):
            raise
        message = f"Could not write the cache file {path} ({error}); the next load will decode again."
        warnings.warn(message, stacklevel=4)


def _remove_stale_temporaries(folder: Path) -> None:
    """Remove the temporary files of :func:`_write_cache` in ``folder`` that are over an hour old."""
    cutoff = time.time() - _STALE_SECONDS
    with contextlib.suppress(OSError), os.scandir(folder) as entries:
        for entry in entries:
            if _TEMPORARY.fullmatch(entry.name):
                with contextlib.suppress(OSError):
                    if entry.stat(follow_symlinks=False).st_mtime < cutoff:
                        os.remove(entry.path)


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
    ``(height, width)``): all are resized to it. Hidden files and ``__MACOSX`` are ignored.
    Symbolic links are followed, to files and to folders (a linked class folder is a class),
    except a link back to a folder it is inside (a loop). Skipped with a warning naming them:
    non-image and unreadable files, files over :data:`MAX_IMAGE_BYTES` (never read),
    FIFOs, sockets and devices (never opened), broken links and link loops. A zip is read in
    memory: nothing is extracted. With ``cache=True`` the decoded arrays are kept in
    :func:`cache_dir`, so the next call with the same files and options is fast; a cache
    folder inside ``path`` is an error.
    """
    if labeled not in (None, True, False):
        raise ValueError(f"labeled must be None, True or False, got {labeled!r}.")
    return _read_folder(_Source(path, str(path)), "", image_size, labeled, cache)


def source_fingerprint(path: str | os.PathLike | None = None) -> str:
    """A short hash of a data source's content: ``path`` (a folder or ``.zip``), else ``$CLR_DATA_DIR``.

    Runs record it, so that evaluating a run later on other data is an error, not a silent
    wrong number. Without a path and without ``CLR_DATA_DIR`` it names Keras's download.
    """
    path = path if path is not None else os.environ.get(DATA_DIR_VAR, "").strip() or None
    if path is None:
        return "keras.datasets.cifar10"
    fingerprint = _Source(path, str(path)).fingerprint("")
    content = fingerprint.split("|", 2)[2]  # the files, not where the source happens to live
    return hashlib.sha256(content.encode()).hexdigest()[:16]


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
    except _CacheInsideData:
        raise
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
    if not all(isinstance(v, Integral) and not isinstance(v, bool) for v in (n, image_size, num_classes)):
        raise TypeError(f"n, image_size and num_classes must be ints, got {n!r}, {image_size!r}, {num_classes!r}.")
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


def write_digit_folder(path: str | os.PathLike, seed: int = 0, min_size: int = 20, max_size: int = 64) -> np.ndarray:
    """Write an example folder of unlabeled images, to try the course on "your own images" offline.

    The images are scikit-learn's 1,797 handwritten digits (8 x 8, shipped with the package), each
    saved as ``path/digit_0000.png`` ... at a random size, ``min_size`` to ``max_size`` pixels per
    side (height and width drawn apart, so few are square), in dark ink of a random colour (every
    channel 0 to 90) on light paper of a random colour (170 to 255). Colour and size say nothing
    about the digit. Returns the digits, ``int64 (1797,)`` in file-name order: labels a folder of
    your own would not have, kept aside to check what an encoder learnt. Writes only into a new or
    empty folder, so nothing already there is overwritten.
    """
    from sklearn.datasets import load_digits

    if not (isinstance(min_size, Integral) and isinstance(max_size, Integral) and 8 <= min_size <= max_size):
        raise ValueError(f"need whole sizes with 8 <= min_size <= max_size, got {min_size!r} and {max_size!r}.")
    folder = Path(path)
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise FileExistsError(f"{folder} exists and is not an empty folder: write_digit_folder writes only into a "
                              f"new or empty folder, so that nothing there is overwritten. Pass another path.")
    folder.mkdir(parents=True, exist_ok=True)
    digits = load_digits()
    rng = np.random.default_rng(seed)
    for i, ink_share in enumerate(digits.images / 16.0):  # 0: paper, 1: ink
        paper, ink = rng.uniform(170, 256, 3), rng.uniform(0, 91, 3)
        pixels = paper + ink_share[..., None] * (ink - paper)
        height, width = (int(v) for v in rng.integers(min_size, max_size + 1, 2))
        image = Image.fromarray(np.round(pixels).astype(np.uint8)).resize((width, height), Image.BILINEAR)
        image.save(folder / f"digit_{i:04d}.png")
    return digits.target.astype(np.int64)

"""clr_lib.data against files written here with known pixels, and against CIFAR-10's published facts."""

import contextlib
import io
import os
import struct
import sys
import threading
import time
import tracemalloc
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from clr_lib import data

REAL_CIFAR10 = os.environ.get("CLR_DATA_DIR")  # read before the fixture below unsets it for every test


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    """Every test gets its own cache folder and no CLR_DATA_DIR: the user's cache is never touched."""
    monkeypatch.setenv("CLR_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("CLR_DATA_DIR", raising=False)
    return tmp_path / "cache"


def pixels(seed, size=(8, 8)):
    return np.random.default_rng(seed).integers(0, 256, (*size, 3), dtype=np.uint8)


def write_png(path, array):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


def png_bytes(array, format="PNG"):
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format=format)
    return buffer.getvalue()


def labeled_folder(root):
    """dog/ and cat/ with 2 and 3 PNGs of known pixels; returns {relative name: pixels}."""
    written = {}
    for i, name in enumerate(["dog/a.png", "dog/b.png", "cat/x.png", "cat/y.png", "cat/z.png"]):
        written[name] = pixels(i)
        write_png(root / name, written[name])
    return written


def make_zip(path, members):
    with zipfile.ZipFile(path, "w") as archive:
        for name, content in members.items():
            archive.writestr(name, content if isinstance(content, bytes) else png_bytes(content))
    return path


def no_warnings(function, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return function(*args, **kwargs)


# --- load_image_folder ---------------------------------------------------------------------------


def test_labeled_folder_gives_exact_pixels_sorted_classes_and_files(tmp_path):
    written = labeled_folder(tmp_path / "pets")
    folder = no_warnings(data.load_image_folder, tmp_path / "pets")
    assert folder.class_names == ("cat", "dog")
    assert folder.files == ("cat/x.png", "cat/y.png", "cat/z.png", "dog/a.png", "dog/b.png")
    assert folder.labels.dtype == np.int64 and folder.labels.tolist() == [0, 0, 0, 1, 1]
    assert folder.images.dtype == np.uint8 and folder.images.shape == (5, 8, 8, 3)
    for image, name in zip(folder.images, folder.files):
        np.testing.assert_array_equal(image, written[name])


def test_zip_reads_like_the_folder_and_hidden_entries_are_ignored(tmp_path):
    written = labeled_folder(tmp_path / "pets")
    junk = {"__MACOSX/cat/._x.png": b"mac junk", "cat/.DS_Store": b"junk", ".hidden/q.png": pixels(9)}
    archive = make_zip(tmp_path / "pets.zip", {**written, **junk})
    from_zip = no_warnings(data.load_image_folder, archive)
    from_folder = data.load_image_folder(tmp_path / "pets")
    assert from_zip.files == from_folder.files and from_zip.class_names == from_folder.class_names
    np.testing.assert_array_equal(from_zip.images, from_folder.images)
    np.testing.assert_array_equal(from_zip.labels, from_folder.labels)


def test_unlabeled_folder_and_labeled_choices(tmp_path):
    for i in range(3):
        write_png(tmp_path / "flat" / f"{i}.png", pixels(i))
    folder = data.load_image_folder(tmp_path / "flat")
    assert folder.labels is None and folder.class_names == () and folder.files == ("0.png", "1.png", "2.png")
    np.testing.assert_array_equal(folder.images[2], pixels(2))

    labeled_folder(tmp_path / "pets")
    everything = data.load_image_folder(tmp_path / "pets", labeled=False)
    assert everything.labels is None and len(everything.images) == 5

    write_png(tmp_path / "pets" / "stray.png", pixels(7))
    with pytest.raises(ValueError, match="labeled=True.*labeled=False"):
        data.load_image_folder(tmp_path / "pets")
    with pytest.raises(ValueError, match="stray.png"):
        data.load_image_folder(tmp_path / "pets", labeled=True)
    assert len(data.load_image_folder(tmp_path / "pets", labeled=False).images) == 6
    with pytest.raises(ValueError, match="labeled must be"):
        data.load_image_folder(tmp_path / "pets", labeled="yes")


def test_grayscale_rgba_and_palette_become_rgb(tmp_path):
    tmp_path = tmp_path / "images"  # beside the cache folder, not around it
    tmp_path.mkdir()
    gray = np.arange(64, dtype=np.uint8).reshape(8, 8)
    rgba = np.dstack([pixels(1), np.full((8, 8), 7, np.uint8)])
    Image.fromarray(gray).save(tmp_path / "gray.png")
    Image.fromarray(rgba).save(tmp_path / "rgba.png")
    palette = Image.fromarray(pixels(2)[..., 0] // 64).convert("P")  # 4 palette indices
    palette.putpalette([0, 0, 0, 255, 0, 0, 0, 255, 0, 0, 0, 255] + [0] * 756)
    palette.save(tmp_path / "palette.png")
    Image.fromarray(gray.astype(np.uint16) * 257).save(tmp_path / "sixteen.png")
    folder = no_warnings(data.load_image_folder, tmp_path)
    images = dict(zip(folder.files, folder.images))
    np.testing.assert_array_equal(images["gray.png"], np.repeat(gray[..., None], 3, axis=2))
    np.testing.assert_array_equal(images["rgba.png"], pixels(1))
    colours = np.array([[0, 0, 0], [255, 0, 0], [0, 255, 0], [0, 0, 255]], np.uint8)
    np.testing.assert_array_equal(images["palette.png"], colours[pixels(2)[..., 0] // 64])
    np.testing.assert_array_equal(images["sixteen.png"], np.repeat(gray[..., None], 3, axis=2))


def test_mixed_sizes_need_image_size(tmp_path):
    tmp_path = tmp_path / "images"
    write_png(tmp_path / "a.png", pixels(0, (8, 8)))
    write_png(tmp_path / "b.png", pixels(1, (16, 12)))
    with pytest.raises(ValueError, match=r"8x8.*16x12.*image_size") as error:
        data.load_image_folder(tmp_path)
    assert "b.png" in str(error.value)
    assert data.load_image_folder(tmp_path, image_size=8).images.shape == (2, 8, 8, 3)
    resized = data.load_image_folder(tmp_path, image_size=(4, 6))
    assert resized.images.shape == (2, 4, 6, 3)
    flat = np.full((16, 12, 3), 200, np.uint8)  # a flat colour stays that colour when resized
    write_png(tmp_path / "b.png", flat)
    assert (data.load_image_folder(tmp_path, image_size=(4, 6)).images[1] == 200).all()
    with pytest.raises(ValueError, match="image_size must be"):
        data.load_image_folder(tmp_path, image_size=(4, 0))


def test_corrupt_and_non_image_files_are_skipped_with_a_warning_naming_them(tmp_path):
    tmp_path = tmp_path / "images"
    labeled_folder(tmp_path)
    (tmp_path / "cat" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    (tmp_path / "cat" / "notes.txt").write_text("hello")
    with pytest.warns(UserWarning, match="broken.png") as record:
        folder = data.load_image_folder(tmp_path)
    assert "notes.txt" in str(record[0].message)
    assert len(folder.images) == 5 and "cat/broken.png" not in folder.files
    with pytest.warns(UserWarning, match="broken.png"):  # the cached load warns again
        data.load_image_folder(tmp_path)


def test_missing_empty_or_unreadable_folders_are_errors(tmp_path):
    with pytest.raises(data.DataNotFoundError, match="does not exist"):
        data.load_image_folder(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(data.DataNotFoundError, match="No image files"):
        data.load_image_folder(tmp_path / "empty")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "a.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(data.DataNotFoundError, match="a.jpg"):
        data.load_image_folder(tmp_path / "bad")
    (tmp_path / "fake.zip").write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(ValueError, match="not a valid zip"):
        data.load_image_folder(tmp_path / "fake.zip")


def test_zip_with_malicious_names_writes_nothing_outside_the_cache(tmp_path, monkeypatch, private_cache):
    work = tmp_path / "work"
    work.mkdir()
    members = {
        "../evil.png": pixels(1),
        "../../evil2.png": pixels(2),
        "/tmp/evil3.png": pixels(3),
        "ok/../../evil4.png": pixels(4),
        "good.png": pixels(0),
    }
    archive = make_zip(work / "attack.zip", members)
    monkeypatch.chdir(work)
    def listing():  # the folders around the zip; the cache folder, tmp_path/cache, may appear
        around = sorted(p.name for p in tmp_path.parent.iterdir())
        return around, sorted(p.name for p in tmp_path.iterdir() if p.name != "cache")

    before = listing()
    with pytest.warns(UserWarning, match=r"\.\./evil\.png") as record:
        folder = data.load_image_folder(archive)
    message = str(record[0].message)
    assert all(name in message for name in ["../../evil2.png", "/tmp/evil3.png", "ok/../../evil4.png"])
    assert folder.files == ("good.png",)
    np.testing.assert_array_equal(folder.images[0], pixels(0))
    assert listing() == before and sorted(p.name for p in work.iterdir()) == ["attack.zip"]
    assert not Path("/tmp/evil3.png").exists()
    assert all(p.suffix == ".npz" for p in private_cache.iterdir())


def test_bad_arguments_and_broken_zips_are_clear_errors(tmp_path, monkeypatch):
    write_png(tmp_path / "here" / "a.png", pixels(0))
    monkeypatch.chdir(tmp_path / "here")
    with pytest.raises(ValueError, match="path is empty"):  # not the working directory
        data.load_image_folder("")
    with pytest.raises(ValueError, match="image_size must be"):
        data.load_image_folder(tmp_path / "here", image_size=32.0)
    with pytest.raises(TypeError, match="must be ints"):
        data.make_synthetic(1e3)

    archive = make_zip(tmp_path / "pets.zip", labeled_folder(tmp_path / "pets"))
    content = archive.read_bytes()
    directory = content.index(b"PK\x01\x02")
    (tmp_path / "broken.zip").write_bytes(content[:directory] + b"XX" + content[directory + 2:])
    with pytest.raises(ValueError, match=r"not a valid zip archive \(BadZipFile: Bad magic number"):
        data.load_image_folder(tmp_path / "broken.zip")

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile's own "Duplicate name" warning
        make_zip(tmp_path / "twice.zip", {"a.png": pixels(1)})
        with zipfile.ZipFile(tmp_path / "twice.zip", "a") as z:
            z.writestr("a.png", png_bytes(pixels(2)))
    with pytest.warns(UserWarning, match=r"a.png \(2 members of this name in the zip archive; only the last is read"):
        folder = data.load_image_folder(tmp_path / "twice.zip")
    assert folder.files == ("a.png",)
    np.testing.assert_array_equal(folder.images[0], pixels(2))


def without_hanging(function, *args, fifos=(), seconds=20):
    """``function(*args)`` in a thread; fail if it is still running after ``seconds`` (blocked on a FIFO)."""
    outcome = {}

    def run():
        try:
            outcome["value"] = function(*args)
        except BaseException as error:  # noqa: BLE001 - re-raised below, in the test's thread
            outcome["error"] = error

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        for fifo in fifos:  # a writer unblocks a reader stuck opening the FIFO, so the thread ends
            with contextlib.suppress(OSError):
                os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        thread.join(seconds)
        pytest.fail(f"{function.__name__}{args} still running after {seconds} s: it opened a FIFO")
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs and symbolic links")
def test_fifos_and_broken_or_looping_links_are_skipped_not_opened(tmp_path):
    written = labeled_folder(tmp_path / "pets")
    fifo = tmp_path / "pets" / "cat" / "pipe.jpg"  # opening it would wait for a writer, forever
    os.mkfifo(fifo)
    (tmp_path / "pets" / "dog" / "gone.png").symlink_to(tmp_path / "nowhere.png")
    (tmp_path / "pets" / "dog" / "self.png").symlink_to("self.png")
    (tmp_path / "pets" / "dog" / "good.png").symlink_to(tmp_path / "pets" / "cat" / "x.png")  # followed
    for attempt in ["decoded", "cached"]:
        with pytest.warns(UserWarning) as record:
            folder = without_hanging(data.load_image_folder, tmp_path / "pets", fifos=[fifo])
        (message,) = [str(w.message) for w in record]
        assert "Skipped 3 file(s)" in message and "cat/pipe.jpg (not a regular file" in message, attempt
        assert "dog/gone.png (broken symbolic link" in message and "dog/self.png (symbolic link loop" in message
        assert folder.files == ("cat/x.png", "cat/y.png", "cat/z.png", "dog/a.png", "dog/b.png", "dog/good.png")
        np.testing.assert_array_equal(folder.images[-1], written["cat/x.png"])
    assert len(without_hanging(data.source_fingerprint, tmp_path / "pets", fifos=[fifo])) == 16
    with pytest.raises(ValueError, match="is a special file .*, neither a folder nor a .zip archive"):
        without_hanging(data.load_image_folder, fifo, fifos=[fifo])


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs symbolic links")
def test_linked_folders_are_followed_but_a_link_loop_is_skipped(tmp_path):
    """Symbolic links to folders are read like folders (a class folder, or a subfolder of one), except loops."""
    written = labeled_folder(tmp_path / "pets")
    write_png(tmp_path / "elsewhere" / "more_cats" / "m.png", pixels(10))
    write_png(tmp_path / "elsewhere" / "birds" / "b.png", pixels(11))
    (tmp_path / "pets" / "cat" / "more").symlink_to(tmp_path / "elsewhere" / "more_cats")
    (tmp_path / "pets" / "bird").symlink_to(tmp_path / "elsewhere" / "birds", target_is_directory=True)
    (tmp_path / "pets" / "cat" / "loop").symlink_to("..", target_is_directory=True)  # back to pets/
    with pytest.warns(UserWarning, match=r"Skipped 1 file\(s\).*cat/loop/ \(symbolic link loop"):
        folder = data.load_image_folder(tmp_path / "pets")
    assert folder.class_names == ("bird", "cat", "dog")
    assert folder.files == ("bird/b.png", "cat/more/m.png", *sorted(written))
    assert folder.labels.tolist() == [0, 1, 1, 1, 1, 2, 2]
    np.testing.assert_array_equal(folder.images[1], pixels(10))
    np.testing.assert_array_equal(folder.images[2], written["cat/x.png"])


def zip_bomb_member(path, name, size, header_size=None):
    """Add ``size`` zeros (a few kB deflated) as ``name``; ``header_size``: the size its directory entry claims."""
    with zipfile.ZipFile(path, "a", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(name, bytes(size))
    if header_size is not None:  # rewrite the uncompressed size in the central directory entry
        content = bytearray(path.read_bytes())
        entry = content.rindex(b"PK\x01\x02")
        assert content[entry + 46:entry + 46 + len(name)] == name.encode()
        struct.pack_into("<I", content, entry + 24, header_size)
        path.write_bytes(bytes(content))


def test_an_oversized_file_is_skipped_without_reading_it_whole(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "MAX_IMAGE_BYTES", 2**20)
    archive = make_zip(tmp_path / "bomb.zip", {"a.png": pixels(0)})
    zip_bomb_member(archive, "huge.png", 5 * 2**20)
    zip_bomb_member(archive, "liar.png", 8 * 2**20, header_size=100)
    assert archive.stat().st_size < 100_000
    tracemalloc.start()
    try:
        with pytest.warns(UserWarning) as record:
            folder = data.load_image_folder(archive)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert folder.files == ("a.png",) and peak < 3 * 2**20, f"{peak / 2**20:.1f} MiB"
    message = str(record[0].message)
    assert "huge.png (too large: 5,242,880 bytes; the limit is clr_lib.data.MAX_IMAGE_BYTES = 1,048,576)" in message
    assert "liar.png (BadZipFile" in message  # read up to its claimed 100 bytes: then the CRC-32 is wrong

    monkeypatch.setattr(data, "MAX_IMAGE_BYTES", 8 * 2**20)  # a new limit: not the old skips from the cache
    with pytest.warns(UserWarning, match=r"huge.png \(UnidentifiedImageError"):
        data.load_image_folder(archive)

    (tmp_path / "images").mkdir()
    write_png(tmp_path / "images" / "a.png", pixels(0))
    with open(tmp_path / "images" / "big.png", "wb") as file:
        file.truncate(9 * 2**20)
    with pytest.warns(UserWarning, match=r"big.png \(too large: 9,437,184 bytes"):
        assert data.load_image_folder(tmp_path / "images").files == ("a.png",)

    source = data._Source(tmp_path / "images", "images")
    source.files()  # listed: a.png has its size
    with open(tmp_path / "images" / "a.png", "ab") as file:
        file.write(b"more")  # and grows before it is read: not read past the listed size
    assert "grew while being read" in source.decode_all(["a.png"], None, "images")[0]


# --- the cache -----------------------------------------------------------------------------------


def forbid_decoding(monkeypatch):
    def fail(*args, **kwargs):
        raise AssertionError("decoded again: the cache was not used")

    monkeypatch.setattr(data._Source, "decode_all", fail)


def test_second_load_comes_from_the_cache(tmp_path, monkeypatch, private_cache):
    labeled_folder(tmp_path / "pets")
    first = data.load_image_folder(tmp_path / "pets")
    assert len(list(private_cache.glob("*.npz"))) == 1
    forbid_decoding(monkeypatch)
    second = data.load_image_folder(tmp_path / "pets")
    np.testing.assert_array_equal(first.images, second.images)
    assert first.files == second.files and first.class_names == second.class_names
    np.testing.assert_array_equal(first.labels, second.labels)
    with pytest.raises(AssertionError, match="decoded again"):  # other options are cached separately
        data.load_image_folder(tmp_path / "pets", image_size=4)


def test_a_changed_file_or_zip_invalidates_the_cache(tmp_path):
    written = labeled_folder(tmp_path / "pets")
    data.load_image_folder(tmp_path / "pets")
    write_png(tmp_path / "pets" / "dog" / "a.png", pixels(99))
    os.utime(tmp_path / "pets" / "dog" / "a.png", ns=(1, 1))  # a different mtime, whatever the clock says
    np.testing.assert_array_equal(data.load_image_folder(tmp_path / "pets").images[3], pixels(99))

    archive = make_zip(tmp_path / "pets.zip", written)
    data.load_image_folder(archive)
    make_zip(archive, {**written, "dog/a.png": pixels(98)})
    os.utime(archive, ns=(2, 2))
    np.testing.assert_array_equal(data.load_image_folder(archive).images[3], pixels(98))


def test_a_zip_rewritten_with_the_same_size_and_time_is_read_again(tmp_path):
    def bmp_zip(pixels_of_a):  # BMP: the same size whatever the pixels, so the zip's size is the same too
        return make_zip(tmp_path / "pets.zip", {"cat/a.bmp": png_bytes(pixels_of_a, "BMP")})

    archive = bmp_zip(pixels(1))
    before = archive.stat()
    np.testing.assert_array_equal(data.load_image_folder(archive).images[0], pixels(1))
    bmp_zip(pixels(3))
    os.utime(archive, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert (archive.stat().st_size, archive.stat().st_mtime_ns) == (before.st_size, before.st_mtime_ns)
    np.testing.assert_array_equal(data.load_image_folder(archive).images[0], pixels(3))


def test_a_cache_folder_inside_the_data_folder_is_refused(tmp_path, monkeypatch):
    labeled_folder(tmp_path / "pets")
    monkeypatch.setenv("CLR_CACHE_DIR", str(tmp_path / "pets" / "cache"))
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    with pytest.raises(ValueError) as error:
        data.load_image_folder(tmp_path / "pets")
    message = str(error.value)
    assert f"cache folder {tmp_path / 'pets' / 'cache'} is inside the data folder {tmp_path / 'pets'}" in message
    assert "point CLR_CACHE_DIR at a folder outside it, or unset it" in message
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before
    assert len(data.load_image_folder(tmp_path / "pets", cache=False).images) == 5

    monkeypatch.setenv("CLR_DATA_DIR", str(mini_cifar(tmp_path / "cifar")))
    monkeypatch.setenv("CLR_CACHE_DIR", str(tmp_path / "cifar"))
    with pytest.raises(ValueError, match="inside the data folder") as error:
        data.load_cifar10()
    assert "train/<class>" not in str(error.value)  # the layout is fine: no layout advice


def interrupted_at(opcode, function, code):
    """Run ``function()``, raising KeyboardInterrupt (as a Ctrl-C would) before the ``opcode``-th bytecode
    that ``code`` runs outside an exception handler; True if it was raised."""
    count = 0

    def local(frame, event, arg):
        nonlocal count
        if event == "opcode" and sys.exc_info()[0] is None:
            count += 1
            if count == opcode:
                raise KeyboardInterrupt
        return local

    def calls(frame, event, arg):
        if frame.f_code is not code:
            return None
        frame.f_trace_opcodes = True
        return local

    previous = sys.gettrace()
    sys.settrace(calls)
    try:
        function()
        return False
    except KeyboardInterrupt:
        return True
    finally:
        sys.settrace(previous)


def test_a_cache_write_interrupted_at_any_moment_leaves_no_temporary_file(tmp_path):
    folder = data.ImageFolder(pixels(0)[None], np.array([0]), ("cat",), ("cat/a.png",))
    path = tmp_path / "cache" / f"pets-{'0' * 16}.npz"
    opcode = 1
    while interrupted_at(opcode, lambda: data._write_cache(path, folder, []), data._write_cache.__code__):
        assert list(tmp_path.rglob("*.tmp")) == [], f"interrupted at bytecode {opcode}"
        opcode += 1
    assert opcode > 20 and [p.name for p in path.parent.iterdir()] == [path.name]  # not interrupted: written


def test_stale_temporary_files_are_removed_by_the_next_write(tmp_path, private_cache):
    private_cache.mkdir()
    stale, fresh, other = "pets-0123456789abcdef.a1b2c3d4.tmp", "pets-0123456789abcdef.x_y9z8w7.tmp", "notes.tmp"
    for name in [stale, fresh, other]:
        (private_cache / name).write_bytes(b"PK partial")
    hours_ago = time.time() - 2 * 3600
    for name in [stale, other]:
        os.utime(private_cache / name, (hours_ago, hours_ago))
    labeled_folder(tmp_path / "pets")
    data.load_image_folder(tmp_path / "pets")
    left = sorted(p.name for p in private_cache.iterdir() if p.suffix == ".tmp")
    assert left == sorted([fresh, other])  # a fresh one may be another process's write in progress


def test_a_truncated_cache_file_is_rebuilt_with_a_warning(tmp_path, private_cache):
    labeled_folder(tmp_path / "pets")
    first = data.load_image_folder(tmp_path / "pets")
    (cache_file,) = private_cache.glob("*.npz")
    cache_file.write_bytes(cache_file.read_bytes()[:300])
    with pytest.warns(UserWarning, match="unreadable.*rebuilding"):
        second = data.load_image_folder(tmp_path / "pets")
    np.testing.assert_array_equal(first.images, second.images)
    with np.load(cache_file) as stored:  # rebuilt and whole again
        np.testing.assert_array_equal(stored["images"], first.images)


def test_an_interrupted_cache_write_leaves_no_file(tmp_path, monkeypatch, private_cache):
    labeled_folder(tmp_path / "pets")

    def interrupted(file, **arrays):
        file.write(b"PK partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "savez", interrupted)
    with pytest.raises(KeyboardInterrupt):
        data.load_image_folder(tmp_path / "pets")
    assert list(private_cache.iterdir()) == []


def test_no_cache_writes_nothing(tmp_path, private_cache):
    labeled_folder(tmp_path / "pets")
    data.load_image_folder(tmp_path / "pets", cache=False)
    assert not private_cache.exists()


# --- load_cifar10 --------------------------------------------------------------------------------


def mini_cifar(root, per_class=(2, 1)):
    """CIFAR-10's layout with 32x32 PNGs whose red value is 20 * label."""
    for split, count in zip(["train", "test"], per_class):
        for label, name in enumerate(data.class_names):
            for i in range(count):
                write_png(root / split / name / f"{i:04d}.png", np.full((32, 32, 3), 20 * label, np.uint8))
    return root


def test_cifar10_from_a_folder_and_a_zip(tmp_path, monkeypatch):
    root = mini_cifar(tmp_path / "cifar")
    archive = tmp_path / "cifar.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for path in sorted(root.rglob("*.png")):
            z.write(path, path.relative_to(root).as_posix())
    for source in [root, archive]:
        monkeypatch.setenv("CLR_DATA_DIR", str(source))
        (x_train, y_train), (x_test, y_test) = data.load_cifar10()
        assert x_train.shape == (20, 32, 32, 3) and x_test.shape == (10, 32, 32, 3) and x_train.dtype == np.uint8
        assert y_train.shape == (20,) and y_train.dtype == np.int64
        np.testing.assert_array_equal(x_train[:, 0, 0, 0], 20 * y_train)  # labels follow the folder names
        np.testing.assert_array_equal(x_test[:, 0, 0, 0], 20 * y_test)
        assert np.bincount(y_train).tolist() == [2] * 10 and sorted(y_test) == list(range(10))
        assert y_train.tolist() != sorted(y_train.tolist())  # a fixed shuffle: classes mixed
        np.testing.assert_array_equal(data.load_cifar10()[0][1], y_train)


def test_each_split_warns_only_about_its_own_files(tmp_path, monkeypatch):
    root = mini_cifar(tmp_path / "cifar")
    (root / "test" / "cat" / "notes.txt").write_text("not an image")
    archive = tmp_path / "cifar.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for path in sorted(root.rglob("*.png")):
            z.write(path, path.relative_to(root).as_posix())
        z.writestr("test/../evil.png", png_bytes(pixels(0)))
    for source in [root, archive]:
        monkeypatch.setenv("CLR_DATA_DIR", str(source))
        with pytest.warns(UserWarning) as record:
            data.load_cifar10()
        (message,) = [str(w.message) for w in record]
        assert "(test/): " in message and "(train/)" not in message, message
        expected = "cat/notes.txt (not an image file)" if source == root else "../evil.png (unsafe name in a zip"
        assert expected in message


def test_a_wrong_clr_data_dir_is_a_clear_error_without_a_download(tmp_path, monkeypatch):
    import keras

    def download(*args, **kwargs):
        raise AssertionError("must not fall back to the download")

    monkeypatch.setattr(keras.datasets.cifar10, "load_data", download)
    monkeypatch.setenv("CLR_DATA_DIR", str(tmp_path / "missing"))
    with pytest.raises(data.DataNotFoundError, match=r"CLR_DATA_DIR=.*missing does not exist"):
        data.load_cifar10()

    (tmp_path / "broken.zip").write_bytes(b"not a zip at all")
    monkeypatch.setenv("CLR_DATA_DIR", str(tmp_path / "broken.zip"))
    with pytest.raises(ValueError, match="not a valid zip"):
        data.load_cifar10()

    labeled_folder(tmp_path / "pets")
    monkeypatch.setenv("CLR_DATA_DIR", str(tmp_path / "pets"))
    with pytest.raises(data.DataNotFoundError, match=r"(?s)\(train/\).*holds: cat, dog.*train/<class>"):
        data.load_cifar10()

    root = mini_cifar(tmp_path / "cifar")
    (root / "train" / "frog").rename(root / "train" / "Frog")
    monkeypatch.setenv("CLR_DATA_DIR", str(root))
    with pytest.raises(ValueError, match=r"missing: \['frog'\], unexpected: \['Frog'\]"):
        data.load_cifar10()


def test_without_clr_data_dir_a_failed_download_explains_both_fixes(monkeypatch):
    import keras

    def offline(*args, **kwargs):
        raise Exception("URL fetch failure on https://example.org/cifar-10: None -- name resolution\nmore")

    monkeypatch.setattr(keras.datasets.cifar10, "load_data", offline)
    with pytest.raises(data.DataNotFoundError) as error:
        data.load_cifar10()
    message = str(error.value)
    assert "CLR_DATA_DIR is not set" in message and "URL fetch failure" in message and "more" not in message
    assert "export CLR_DATA_DIR=" in message and "train/<class>" in message and "internet" in message


def test_keras_download_labels_are_flattened(monkeypatch):
    import keras

    images = np.zeros((4, 32, 32, 3), np.uint8)
    labels = np.array([[1], [2], [3], [4]], np.uint8)  # Keras's shape, (N, 1)
    monkeypatch.setattr(keras.datasets.cifar10, "load_data", lambda: ((images, labels), (images, labels)))
    (x_train, y_train), (_, y_test) = data.load_cifar10()
    assert y_train.tolist() == [1, 2, 3, 4] and y_train.dtype == np.int64 and y_test.shape == (4,)


@pytest.mark.skipif(not REAL_CIFAR10, reason="set CLR_DATA_DIR to a copy of CIFAR-10 to run it")
def test_real_cifar10(monkeypatch):
    monkeypatch.setenv("CLR_DATA_DIR", REAL_CIFAR10)
    start = time.perf_counter()
    (x_train, y_train), (x_test, y_test) = data.load_cifar10()  # a cold decode: the cache folder is new
    print(f"cold load {time.perf_counter() - start:.1f} s")
    assert x_train.shape == (50_000, 32, 32, 3) and x_test.shape == (10_000, 32, 32, 3)
    assert np.bincount(y_train).tolist() == [5000] * 10 and np.bincount(y_test).tolist() == [1000] * 10
    means = x_train.reshape(-1, 3).mean(axis=0) / 255
    np.testing.assert_allclose(means, [0.4913, 0.4821, 0.4465], atol=2e-4)  # the JPEG copy; the original: +1e-4
    start = time.perf_counter()
    (cached, cached_y), _ = data.load_cifar10()
    print(f"cached load {time.perf_counter() - start:.2f} s")
    assert time.perf_counter() - start < 10  # about a second on 2 cores; generous for a busy machine
    np.testing.assert_array_equal(cached, x_train)
    np.testing.assert_array_equal(cached_y, y_train)


# --- subset --------------------------------------------------------------------------------------


def test_subset_is_balanced_seeded_and_sized():
    y = np.repeat(np.arange(5), [30, 20, 50, 40, 25])
    x = np.arange(len(y)) * 10  # x tells which example was chosen
    x_sub, y_sub = data.subset(x, y, 50, seed=1)
    assert len(x_sub) == 50 and np.bincount(y_sub).tolist() == [10] * 5
    np.testing.assert_array_equal(y[x_sub // 10], y_sub)
    assert len(set(x_sub.tolist())) == 50
    again = data.subset(x, y, 50, seed=1)
    np.testing.assert_array_equal(again[0], x_sub)
    assert data.subset(x, y, 50, seed=2)[0].tolist() != x_sub.tolist()
    assert y_sub.tolist() != sorted(y_sub.tolist())  # classes mixed
    assert np.bincount(data.subset(x, y, 52)[1]).tolist() == [11, 11, 10, 10, 10]
    assert np.bincount(data.subset(x, y, 0.4)[1]).tolist() == [14, 13, 13, 13, 13]  # 0.4 * 165 = 66


def test_subset_errors():
    y = np.repeat(np.arange(3), [10, 4, 10])
    x = np.zeros((len(y), 2))
    with pytest.raises(ValueError, match="class 1, but it has only 4"):
        data.subset(x, y, 15)
    assert len(data.subset(x, y, 12)[0]) == 12
    with pytest.raises(ValueError, match="reshape"):
        data.subset(x, y[:, None], 6)
    with pytest.raises(ValueError, match="same"):
        data.subset(x[:5], y, 6)
    for bad in [0, -3, 1.5]:
        with pytest.raises(ValueError):
            data.subset(x, y, bad)
    with pytest.raises(TypeError):
        data.subset(x, y, "6")


# --- make_synthetic ------------------------------------------------------------------------------


def nearest_centroid_accuracy(train_features, train_y, test_features, test_y):
    centroids = np.stack([train_features[train_y == k].mean(axis=0) for k in np.unique(train_y)])
    distances = ((test_features[:, None] - centroids[None]) ** 2).sum(axis=-1)
    return (distances.argmin(axis=1) == test_y).mean()


def spectrum(images):
    """|FFT| of the grayscale image: blind to colour and position, sensitive to texture."""
    gray = images.astype(float).mean(axis=-1)
    power = np.abs(np.fft.fft2(gray - gray.mean(axis=(1, 2), keepdims=True))).reshape(len(images), -1)
    return power / np.linalg.norm(power, axis=1, keepdims=True)


def test_make_synthetic_shapes_balance_and_determinism():
    start = time.perf_counter()
    x, y = data.make_synthetic(1000)
    assert time.perf_counter() - start < 1.0
    assert x.shape == (1000, 32, 32, 3) and x.dtype == np.uint8 and y.shape == (1000,) and y.dtype == np.int64
    assert np.bincount(y).tolist() == [250] * 4
    np.testing.assert_array_equal(data.make_synthetic(1000)[0], x)
    assert not np.array_equal(data.make_synthetic(1000, seed=1)[0], x)
    x6, y6 = data.make_synthetic(100, image_size=24, num_classes=6)
    assert x6.shape == (100, 24, 24, 3) and np.bincount(y6).tolist() == [17] * 4 + [16] * 2
    with pytest.raises(ValueError, match="num_classes"):
        data.make_synthetic(10, num_classes=7)


@pytest.mark.parametrize("num_classes", [4, 6])
def test_make_synthetic_classes_are_textures_not_colours(num_classes):
    x, y = data.make_synthetic(1200, num_classes=num_classes)
    train, test = slice(0, 600), slice(600, None)
    chance = 1 / num_classes
    by_texture = nearest_centroid_accuracy(spectrum(x[train]), y[train], spectrum(x[test]), y[test])
    flipped = nearest_centroid_accuracy(spectrum(x[train]), y[train], spectrum(x[test, :, ::-1]), y[test])
    colour = x.reshape(len(x), -1, 3).mean(axis=1)
    by_colour = nearest_centroid_accuracy(colour[train], y[train], colour[test], y[test])
    assert by_texture > 0.85 and flipped > 0.85  # a horizontal flip keeps the class
    assert by_colour < chance + 0.1


def test_write_digit_folder_writes_every_digit_at_many_sizes_and_overwrites_nothing(tmp_path):
    from sklearn.datasets import load_digits

    folder = tmp_path / "digits"
    labels = data.write_digit_folder(folder, seed=0, min_size=20, max_size=40)
    digits = load_digits()
    np.testing.assert_array_equal(labels, digits.target)
    files = sorted(folder.iterdir())
    assert len(files) == len(digits.target) == 1797 and files[0].name == "digit_0000.png"
    sizes = [Image.open(f).size for f in files]
    assert all(20 <= side <= 40 for size in sizes for side in size)
    assert len(set(sizes)) > 100 and sum(w != h for w, h in sizes) > len(sizes) // 2  # many sizes, mostly not square
    pixels = np.asarray(Image.open(files[0]).convert("RGB"), np.int64)
    assert (pixels.max(axis=(0, 1)) - pixels.min(axis=(0, 1)) >= 60).all()  # ink stands out in every channel
    loaded = data.load_image_folder(folder, image_size=32, labeled=False, cache=False)
    assert loaded.images.shape == (1797, 32, 32, 3) and loaded.files[1] == "digit_0001.png"
    # the colours differ from image to image: the mean colour says nothing about the digit
    assert loaded.images.reshape(1797, -1, 3).mean(axis=1).std(axis=0).min() > 10
    pixels = loaded.images.reshape(1797, -1, 3)
    assert pixels.max(axis=1).min() >= 165 and np.median(pixels.min(axis=1)) <= 70  # light paper, dark ink
    with pytest.raises(FileExistsError, match="not an empty folder"):
        data.write_digit_folder(folder)
    assert len(list(folder.iterdir())) == 1797

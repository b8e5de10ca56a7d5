"""The Gradio demo, three ways: handlers called directly; the app served on 127.0.0.1 and driven with gradio_client
(/fuse, /enhance, /fuse_ms, errors while the server keeps serving, the upload limit); and end to end in headless
Chromium with Playwright (`-m browser`). The authors' checkpoint from ../shared is the weights (skip when absent);
images are 96x96 so the CPU model takes about a second."""
from __future__ import annotations

import os
import shutil
import socket
import stat
import time
from pathlib import Path

import numpy as np
import pytest

gr = pytest.importorskip("gradio")

from gifnet import demo  # noqa: E402
from gifnet.examples import focus_pair  # noqa: E402
from gifnet.image import read_image, resize, write_image  # noqa: E402
from gifnet.pipeline import enhance, fuse, fuse_multispectral  # noqa: E402

BROWSER_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--no-first-run"]
CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture(scope="module")
def weights(shared):
    """GIFNET_WEIGHTS -> the authors' checkpoint: the demo must load the default weights through the variable."""
    path = shared / "checkpoints/official/Final.model"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GIFNET_WEIGHTS", str(path))
        mp.setenv("HF_HUB_OFFLINE", "1")
        yield path


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> dict[str, Path]:
    """Small test inputs: a multi-focus pair (RGB), a 16-bit grey and an RGBA image, a non-image, a 3-band TIFF."""
    d = tmp_path_factory.mktemp("images")
    try:                                      # a photo reads better in the screenshot (public domain, NASA)
        from skimage import data

        scene = resize(np.asarray(data.astronaut(), np.float32) / 255, (96, 96))
    except ImportError:
        yy, xx = np.mgrid[0:96, 0:96] / 96.0
        scene = np.stack([0.5 + 0.4 * np.sin(9 * xx), 0.5 + 0.4 * np.cos(7 * yy), 0.5 + 0.3 * np.sin(5 * xx + 5 * yy)],
                         axis=-1)
        scene[30:60, 20:50] = [0.9, 0.2, 0.1]
    near, far = focus_pair(scene.astype(np.float32), sigma=2.0)
    out = {"near": d / "near.png", "far": d / "far.png", "grey16": d / "ir16.png", "rgba": d / "vis.png",
           "small": d / "small.png", "text": d / "notes.png", "ms": d / "ms.tif", "pan": d / "pan.png"}
    write_image(np.round(near * 255).astype(np.uint8), out["near"])
    write_image(np.round(far * 255).astype(np.uint8), out["far"])
    write_image(np.round(scene[..., 0] * 65535).astype(np.uint16), out["grey16"])
    rgba = np.concatenate([np.round(scene * 255), np.full((96, 96, 1), 200.0)], -1).astype(np.uint8)
    from PIL import Image
    Image.fromarray(rgba, "RGBA").save(out["rgba"])
    write_image(np.round(scene[:64, :80] * 255).astype(np.uint8), out["small"])
    out["text"].write_text("this is not an image\n")                        # a non-image with an image name
    write_image(np.round(scene * 255).astype(np.uint8), out["ms"])
    write_image(np.round(scene.mean(-1) * 255).astype(np.uint8), out["pan"])
    return out


@pytest.fixture(scope="module")
def model(weights):
    return demo.get_model()


# ------------------------------------------------------------------------------------------------ handlers, direct
def test_fuse_handler_matches_the_pipeline(model, images):
    (left, right), path, table, notice, state = demo.fuse_images(str(images["near"]), str(images["far"]), "mfif")
    expected = fuse(images["near"], images["far"], task="mfif", model=model)
    saved, bits = read_image(path)
    assert Path(path).suffix == ".png" and bits == 8
    assert np.array_equal(np.round(saved * 255).astype(np.uint8), expected)          # the download is lossless
    assert left.shape == right.shape == (96, 96, 3) and left.dtype == np.uint8
    assert np.array_equal(right, expected)
    assert "Fused 96x96" in notice and "⚠️" not in notice
    assert state["fused"] is right
    assert demo.compare_with("second", state)[0] is state["b"] and demo.compare_with("first", state)[0] is state["a"]
    try:
        import gifnet.metrics  # noqa: F401
    except ImportError:
        assert len(table) == 1 and "unavailable" in table[0][1]
    else:
        assert [r[0] for r in table] == ["EN", "SD", "SF", "AG", "Qabf", "SSIM"]
        assert all(np.isfinite(r[1]) for r in table)


def read_png16_rgb(path) -> np.ndarray:
    """Decode a 16-bit RGB PNG (Pillow reads those at 8 bits): IHDR says 16-bit RGB, rows use filter 0."""
    import struct
    import zlib

    data = Path(path).read_bytes()
    pos, chunks = 8, {}
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        chunks.setdefault(kind, b"")
        chunks[kind] += data[pos + 8:pos + 8 + n]
        pos += 12 + n
    w, h, depth, colour = struct.unpack(">IIBB", chunks[b"IHDR"][:10])
    assert (depth, colour) == (16, 2), "not a 16-bit RGB PNG"
    rows = np.frombuffer(zlib.decompress(chunks[b"IDAT"]), np.uint8).reshape(h, 1 + w * 6)
    assert not rows[:, 0].any(), "unexpected PNG row filter"
    return rows[:, 1:].copy().view(">u2").reshape(h, w, 3).astype(np.uint16)


def test_grey_16bit_and_rgba_inputs(model, images):
    _, path, _, notice, _ = demo.fuse_images(str(images["grey16"]), str(images["rgba"]), "ivif")
    expected = fuse(images["grey16"], images["rgba"], task="ivif", model=model)
    assert expected.dtype == np.uint16 and expected.shape == (96, 96, 3)   # 16 bits kept; colour from the visible
    assert np.array_equal(read_png16_rgb(path), expected) and "16-bit PNG" in notice


def test_size_mismatch_is_offered_resampling(model, images):
    with pytest.raises(gr.Error, match="differ in size.*96x96.*80x64.*Resample"):
        demo.fuse_images(str(images["near"]), str(images["small"]), "mfif", False)
    (_, right), _, _, notice, _ = demo.fuse_images(str(images["near"]), str(images["small"]), "mfif", True)
    assert right.shape == (96, 96, 3) and "resampled from 80x64 to 96x96" in notice


def test_pixel_limit_downscales_with_a_notice(model, images, monkeypatch):
    monkeypatch.setattr(demo, "MAX_PIXELS", 48 * 48)
    (_, right), path, _, notice, _ = demo.fuse_images(str(images["near"]), str(images["far"]), "mfif")
    assert right.shape == (48, 48, 3) and read_image(path)[0].shape == (48, 48, 3)
    assert "Downscaled from 96x96 to 48x48" in notice


def test_bad_inputs_are_gr_errors(model, images, tmp_path):
    with pytest.raises(gr.Error, match=r"First image \(near focus\): .*notes.png: not a readable image"):
        demo.fuse_images(str(images["text"]), str(images["far"]), "mfif")
    with pytest.raises(gr.Error, match="Upload the second image"):
        demo.fuse_images(str(images["near"]), None, "mfif")
    with pytest.raises(gr.Error, match="Unknown task"):
        demo.fuse_images(str(images["near"]), str(images["far"]), "cubism")
    tiny = tmp_path / "tiny.png"
    write_image(np.zeros((4, 4), np.uint8), tiny)
    with pytest.raises(gr.Error, match="at least 8x8"):
        demo.fuse_images(str(tiny), str(tiny), "auto")
    with pytest.raises(gr.Error, match="Upload the image"):
        demo.enhance_image(None)


def test_upload_paths_are_not_shown_to_users(images, tmp_path, monkeypatch):
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path / "gradio"))
    upload = tmp_path / "gradio" / ("ab12" * 16) / "holiday.png"
    upload.parent.mkdir(parents=True)
    shutil.copy(images["text"], upload)
    with pytest.raises(gr.Error) as e:
        demo.fuse_images(str(upload), str(images["far"]), "mfif")
    assert "holiday.png" in e.value.message and str(tmp_path) not in e.value.message


def test_unexpected_failures_become_one_line_errors(monkeypatch, images):
    def boom(*args):
        raise RuntimeError("internal detail")
    monkeypatch.setattr(demo, "_fuse_planes", boom)
    with pytest.raises(gr.Error) as e:
        demo.fuse_images(str(images["near"]), str(images["far"]), "mfif")
    assert e.value.message.startswith("Unexpected error (RuntimeError)") and "internal detail" not in e.value.message


def test_weights_that_cannot_load_are_reported(monkeypatch, images, caplog):
    """The page says the server cannot load its weights (no paths, no environment variables); the log has why."""
    monkeypatch.setenv("GIFNET_WEIGHTS", "acme/not-in-the-cache")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(gr.Error, match=r"could not load its weights \(acme/not-in-the-cache\).*not a problem with your"
                                       " images") as e:
        demo.fuse_images(str(images["near"]), str(images["far"]), "mfif")
    assert "HF_HUB_OFFLINE" not in e.value.message and "/" not in e.value.message.replace("acme/not", "")
    assert "acme/not-in-the-cache: not in the local Hugging Face cache" in caplog.text


def test_enhance_handler_matches_the_pipeline(model, images):
    (before, after), path, table, notice = demo.enhance_image(str(images["near"]))
    expected = enhance(images["near"], model=model)
    assert np.array_equal(after, expected)
    assert np.array_equal(before, np.round(read_image(images["near"])[0] * 255).astype(np.uint8))
    assert np.array_equal(np.round(read_image(path)[0] * 255).astype(np.uint8), expected)
    assert len(table[0]) == 4 and "Enhanced 96x96" in notice


def test_remote_handler_matches_the_pipeline(model, images):
    (before, after), path, notice = demo.fuse_remote([str(images["ms"])], str(images["pan"]), False, "3,2,1")
    saved, bits = read_image(path, allow_bands=True)
    expected = fuse_multispectral(images["ms"], images["pan"], model=model)
    assert saved.shape == (96, 96, 3) and bits == 8 and Path(path).suffix == ".tif"
    assert np.array_equal(np.round(saved * 255).astype(np.uint8), expected)
    assert before.shape == after.shape == (96, 96, 3) and "bands 3,2,1" in notice
    # one file per band gives the same result
    ms = read_image(images["ms"], allow_bands=True)[0]
    bands = [str(Path(path).parent / f"band{i}.png") for i in range(3)]
    for i, band in enumerate(bands):
        write_image(np.round(ms[..., i] * 255).astype(np.uint8), band)
    _, path2, _ = demo.fuse_remote(bands, str(images["pan"]), False, "")
    assert np.array_equal(read_image(path2, allow_bands=True)[0], saved)
    with pytest.raises(gr.Error, match="between 1 and 3"):
        demo.fuse_remote([str(images["ms"])], str(images["pan"]), False, "4,2,1")
    with pytest.raises(gr.Error, match="Band 1 is 80x64 .* 96x96"):
        demo.fuse_remote([str(images["small"])], str(images["pan"]), False, "")


def test_presets_relabel_and_swap():
    a, b, note, compare = demo.relabel("medical")
    assert a["label"] == "First: PET / SPECT / CT" and b["label"] == "Second: MRI"
    assert "colour from the first image" in note
    assert compare["choices"][1] == ("second (MRI)", "second")
    assert demo.swap("x", "y") == ("y", "x")


def test_every_request_gets_its_own_private_folder(model, images):
    p1 = Path(demo.fuse_images(str(images["near"]), str(images["far"]), "mfif")[1])
    p2 = Path(demo.fuse_images(str(images["near"]), str(images["far"]), "mfif")[1])
    assert p1.parent != p2.parent and p1.parent.parent == p2.parent.parent == demo.output_root()
    assert stat.S_IMODE(p1.parent.stat().st_mode) == 0o700
    assert demo.output_root().parent == Path(demo.gradio_cache())      # in Gradio's cache: served without a copy


def test_old_files_are_swept_but_not_the_examples(tmp_path, monkeypatch):
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path / "cache"))
    result = demo.output_dir() / "fused.png"
    result.write_bytes(b"x")
    upload = tmp_path / "cache" / ("ab" * 20) / "upload.png"
    example = tmp_path / "cache" / ("cd" * 20) / "example.png"
    for f in (upload, example):
        f.parent.mkdir(parents=True)
        f.write_bytes(b"y")
    assert demo.sweep_cache() == 0                                      # all younger than RESULT_TTL_S
    monkeypatch.setattr(demo, "RESULT_TTL_S", -1)                       # now everything is old
    assert demo.sweep_cache(keep=frozenset({os.path.realpath(example)})) == 2
    assert example.exists() and not upload.exists() and not result.exists()
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == [("cd" * 20)]   # emptied folders removed


def test_first_screen_has_an_infrared_visible_example_and_names_the_weights(tmp_path, monkeypatch):
    """Offline: the Fuse tab's first example is infrared-visible (synthesised, said so, with where to get real
    pairs); the header names the served weights (read from their source) and links the evaluation of their model
    card, shown in the "About the served weights" panel."""
    pytest.importorskip("skimage")
    from gifnet.hub import DEFAULT_WEIGHTS

    monkeypatch.delenv("GIFNET_WEIGHTS", raising=False)
    app = demo.build_demo(tmp_path / "examples")
    texts = [c["props"].get("value") for c in app.config["components"] if c["type"] == "markdown"]
    header = next(t for t in texts if t and t.startswith("# GIFNet"))
    name = Path(DEFAULT_WEIGHTS).name if DEFAULT_WEIGHTS != "official" else "the authors' released checkpoint"
    assert f"**{name}**" in header and "[evaluation" in header
    if DEFAULT_WEIGHTS != "official":
        assert "(#weights-card)" in header
        card = next(t for t in texts if t and t.startswith("From the model card"))
        assert "| group |" in card                                          # the model card's evaluation table
    assert any(t and "TNO Image Fusion Dataset" in t and "synthesised" in t for t in texts)
    examples = next(c for c in app.config["components"] if c["type"] == "dataset")
    assert examples["props"]["samples"][0][2] == "ivif"                    # the default task's example comes first
    first = [Path(examples["props"]["samples"][0][i]["path"]) for i in (0, 1)]
    ir, vis = read_image(first[0])[0], read_image(first[1])[0]
    assert ir.ndim == 2 and vis.ndim == 3 and ir.shape == vis.shape[:2]     # grey "infrared", colour visible


def test_refused_bombs_stay_near_idle_memory(tmp_path):
    """Crafted bombs (made here, never committed) through the demo's handler and the CLI, in a fresh process:
    every one is refused with a message, and the peak memory (VmHWM) stays within 300 MB of idle."""
    import json
    import subprocess
    import sys

    from bombs import jpeg_bomb, png_bomb, tiff_bomb

    small = tmp_path / "small.png"
    write_image(np.zeros((64, 64, 3), np.uint8), small)
    files = {"png_rgb": png_bomb(tmp_path / "rgb.png", 20000, 20000),           # 1.6 MB, 4.5 GB as float
             "png_grey": png_bomb(tmp_path / "grey.png", 25000, 25000, 1),      # past Pillow's warning threshold
             "tiff": tiff_bomb(tmp_path / "big.tif", 20000, 20000),
             "jpeg": jpeg_bomb(tmp_path / "big.jpg", 20000, 15000)}
    cases = {k: [str(v), str(small)] for k, v in files.items()}
    cases["pair"] = [str(files["png_rgb"]), str(files["tiff"])]
    cases["small_then_bomb"] = [str(small), str(files["png_grey"])]
    script = """
import json, sys
from pathlib import Path
import gradio as gr
from gifnet import cli, demo

def status(key):
    return int(next(l for l in open("/proc/self/status") if l.startswith(key)).split()[1]) * 1024

cases, out = json.loads(sys.argv[1]), Path(sys.argv[2])
try:
    open("/proc/self/clear_refs", "w").write("5")                 # reset the peak to the current RSS
except OSError:
    pass
idle, report = status("VmRSS:"), {}
for name, (a, b) in cases.items():
    try:
        demo.fuse_images(a, b, "ivif")
        report[name] = "accepted"
    except gr.Error as e:
        report[name] = e.message
    report[name + " cli"] = cli.main(["fuse", a, b, "-o", str(out / (name + ".png"))])
print(json.dumps({"idle": idle, "peak": status("VmHWM:"), "report": report}))
"""
    r = subprocess.run([sys.executable, "-c", script, json.dumps(cases), str(tmp_path)],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    result = json.loads(r.stdout.strip().splitlines()[-1])
    for name in cases:
        assert "not decoded" in result["report"][name], (name, result["report"][name])
        assert result["report"][name + " cli"] == 2
    assert result["peak"] - result["idle"] < 300 * 2**20, result
    assert not list(tmp_path.glob("*.png.*")) and not list(tmp_path.glob(".gifnet-*"))


def test_cli_has_the_demo_subcommand():
    from gifnet.cli import build_parser

    args = build_parser().parse_args(["demo", "--host", "0.0.0.0", "--port", "7999", "--share"])
    assert (args.host, args.port, args.share) == ("0.0.0.0", 7999, True) and args.handler.__name__ == "_run_demo"


# ------------------------------------------------------------------------------------------- served, gradio_client
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(weights):
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(demo, "MAX_UPLOAD", "1mb")
        app = demo.launch("127.0.0.1", free_port(), prevent_thread_lock=True, quiet=True)
        try:
            yield app.local_url
        finally:
            app.close()


def test_api_endpoints_are_named(server):
    from gradio_client import Client

    api = Client(server, verbose=False).view_api(print_info=False, return_format="dict")
    assert {"/fuse", "/enhance", "/fuse_ms"} <= set(api["named_endpoints"])
    assert not {"/swap", "/relabel", "/compare_with", "/load_sample"} & set(api["named_endpoints"])


def test_client_fuse_enhance_and_errors(server, images, model):
    from gradio_client import Client, handle_file
    from gradio_client.exceptions import AppError

    client = Client(server, verbose=False)
    slider, download, table, notice = client.predict(handle_file(images["near"]), handle_file(images["far"]), "mfif",
                                                     False, api_name="/fuse")
    expected = fuse(images["near"], images["far"], task="mfif", model=model)
    assert np.array_equal(np.round(read_image(download)[0] * 255).astype(np.uint8), expected)
    assert len(slider) == 2 and "Fused 96x96" in notice and table["headers"] == ["metric", "value", "meaning"]

    with pytest.raises(AppError, match="not a readable image"):
        client.predict(handle_file(images["text"]), handle_file(images["far"]), "mfif", False, api_name="/fuse")
    with pytest.raises(AppError, match="differ in size"):
        client.predict(handle_file(images["near"]), handle_file(images["small"]), "mfif", False, api_name="/fuse")

    _, enhanced, _, notice = client.predict(handle_file(images["near"]), api_name="/enhance")   # still serving
    assert np.array_equal(np.round(read_image(enhanced)[0] * 255).astype(np.uint8),
                          enhance(images["near"], model=model)) and "Enhanced" in notice

    _, tif, notice = client.predict([handle_file(images["ms"])], handle_file(images["pan"]), False, "",
                                    api_name="/fuse_ms")
    assert read_image(tif, allow_bands=True)[0].shape == (96, 96, 3)


def folder_usage(folder: Path) -> tuple[int, int]:
    """(files, bytes) under `folder`; files deleted while it looks are not counted."""
    sizes = []
    for root, _, names in os.walk(folder):
        for name in names:
            try:
                sizes.append(os.stat(os.path.join(root, name)).st_size)
            except FileNotFoundError:
                pass
    return len(sizes), sum(sizes)


def test_temp_disk_stays_bounded_under_30_requests(tmp_path, monkeypatch):
    """30 /fuse requests with distinct uploads against a server whose sweeper runs every second for files older
    than 2 s (production: every minute, 10 min): results are written once, into the demo's cache folder, and once
    the requests stop everything they left is swept, request folders included; the examples stay."""
    from gradio_client import Client, handle_file

    from gifnet.hub import save_weights
    from gifnet.model import GIFNet

    cache = tmp_path / "gradio"
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(cache))
    monkeypatch.setenv("GIFNET_WEIGHTS", str(save_weights(GIFNet(), tmp_path / "weights")))
    monkeypatch.setattr(demo, "RESULT_TTL_S", 2)
    monkeypatch.setattr(demo, "SWEEP_S", 1)
    app = demo.launch("127.0.0.1", free_port(), prevent_thread_lock=True, quiet=True,
                      demo=demo.build_demo(tmp_path / "examples"))
    try:
        idle = folder_usage(cache)
        examples = [Path(cell["path"]) for c in app.config["components"] if c["type"] == "dataset"
                    for sample in c["props"]["samples"] for cell in sample if isinstance(cell, dict) and "path" in cell]
        assert examples and all(cache in p.parents for p in examples)
        client, rng = Client(app.local_url, verbose=False), np.random.default_rng(0)
        usage = []
        for i in range(30):
            a, b = tmp_path / f"a{i}.png", tmp_path / f"b{i}.png"
            write_image((rng.random((32, 32)) * 255).astype(np.uint8), a)          # infrared: grey
            write_image((rng.random((32, 32, 3)) * 255).astype(np.uint8), b)       # visible: colour
            download = client.predict(handle_file(a), handle_file(b), "ivif", False, api_name="/fuse")[1]
            assert read_image(download)[0].shape == (32, 32, 3)
            usage.append(folder_usage(cache))
        per_request = usage[0][0] - idle[0]
        assert 0 < per_request <= 8
        assert len(list((cache / "gifnet").glob("*/*"))) <= 30             # one result file per request, no copy
        deadline = time.monotonic() + 60
        while (folder_usage(cache)[0] > idle[0] or list((cache / "gifnet").iterdir())) and time.monotonic() < deadline:
            time.sleep(0.5)
        left = sorted(str(f.relative_to(cache)) for f in cache.rglob("*") if f.is_file())
        assert folder_usage(cache)[0] <= idle[0], (idle, usage[-1], left)  # only the examples are left
        assert not list((cache / "gifnet").iterdir())                       # request folders removed too
        assert all(p.is_file() for p in examples)                           # the examples stay
        assert max(n for n, _ in usage) < 30 * per_request                  # swept during the run as well
    finally:
        app.close()
        demo._models.clear()


def test_upload_size_limit_is_enforced_by_the_server(server, tmp_path):
    import httpx

    big = tmp_path / "big.png"
    big.write_bytes(os.urandom(1_500_000))
    files = {"files": ("big.png", big.read_bytes(), "image/png")}
    r = httpx.post(server + "gradio_api/upload", files=files, timeout=60)
    assert r.status_code == 413
    assert httpx.get(server + "gradio_api/info", timeout=30).status_code == 200                # still serving


# ------------------------------------------------------------------------------------------------ headless Chromium
@pytest.mark.browser
def test_browser_upload_fuse_and_download(server, images, model, tmp_path):
    """Chromium: an error for a missing input, then choose Multi-focus (inputs relabelled), upload two images, press
    Fuse, wait for the before/after result, download the PNG (identical to the library's output), screenshot."""
    if not CHROMIUM.is_file():
        pytest.skip(f"{CHROMIUM} not found (apt-get install -y chromium)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright not installed (pip install playwright)")
    expect = sync_api.expect

    shot = tmp_path / "demo_fuse_mfif.png"
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=BROWSER_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1100}, accept_downloads=True)
            errors = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(server)
            page.wait_for_selector("#fuse-a input[type=file]", state="attached", timeout=90_000)

            page.click("#fuse-run")                                              # nothing uploaded yet
            expect(page.locator("[data-testid=toast-text]").first).to_contain_text("Upload the first image",
                                                                                    timeout=30_000)
            page.locator("[data-testid=toast-close]").first.click()

            page.locator("#fuse-task input").click()
            page.get_by_role("option", name="Multi-focus").click()
            expect(page.locator("#fuse-a [data-testid=block-label]")).to_have_text("First: near focus", timeout=15_000)
            expect(page.locator("#fuse-b [data-testid=block-label]")).to_have_text("Second: far focus")

            page.locator("#fuse-a input[type=file]").set_input_files(str(images["near"]))
            page.locator("#fuse-b input[type=file]").set_input_files(str(images["far"]))
            expect(page.locator("#fuse-a img")).to_be_visible(timeout=30_000)
            expect(page.locator("#fuse-b img")).to_be_visible(timeout=30_000)
            page.click("#fuse-run")
            expect(page.locator("#fuse-result img")).to_have_count(2, timeout=120_000)  # source and fused
            expect(page.locator("#fuse-notice")).to_contain_text("Fused 96x96 (Multi-focus)", timeout=30_000)
            for img in page.locator("#fuse-result img").all():
                assert img.evaluate("e => e.complete && e.naturalWidth") == 96      # decoded, full size
            assert page.locator(".toast-title.error").count() == 0

            with page.expect_download() as download:
                page.click("#fuse-download")
            saved = tmp_path / download.value.suggested_filename
            download.value.save_as(saved)
            page.screenshot(path=str(shot), full_page=True)
        finally:
            browser.close()
    assert saved.suffix == ".png"
    expected = fuse(images["near"], images["far"], task="mfif", model=model)
    assert np.array_equal(np.round(read_image(saved)[0] * 255).astype(np.uint8), expected)
    assert not errors, errors
    assert shot.stat().st_size > 10_000
    if os.environ.get("GIFNET_SCREENSHOT_DIR"):
        target = Path(os.environ["GIFNET_SCREENSHOT_DIR"])
        target.mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, target / shot.name)


@pytest.mark.browser
def test_browser_first_screen_as_a_newcomer_sees_it(tmp_path, monkeypatch):
    """`make demo` as it starts: the default (bundled) weights, offline. The header names them; clicking the first
    example (infrared-visible) and Fuse gives a result; the weights panel shows their model card's evaluation table.
    The screenshot is the README's (docs/demo_fuse.png, copied to $GIFNET_SCREENSHOT_DIR when set)."""
    if not CHROMIUM.is_file():
        pytest.skip(f"{CHROMIUM} not found (apt-get install -y chromium)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright not installed (pip install playwright)")
    pytest.importorskip("skimage")
    from gifnet.hub import DEFAULT_WEIGHTS

    expect = sync_api.expect
    monkeypatch.delenv("GIFNET_WEIGHTS", raising=False)
    monkeypatch.setenv("GIFNET_OFFLINE", "1")
    app = demo.launch("127.0.0.1", free_port(), prevent_thread_lock=True, quiet=True,
                      demo=demo.build_demo(tmp_path / "examples"))
    shot = tmp_path / "demo_fuse.png"
    try:
        with sync_api.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), args=BROWSER_ARGS)
            try:
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                errors = []
                page.on("pageerror", lambda e: errors.append(str(e)))
                page.goto(app.local_url)
                page.wait_for_selector("#fuse-a input[type=file]", state="attached", timeout=90_000)
                expect(page.locator("#header")).to_contain_text(f"Weights: {demo.weights_label()}")
                page.locator("#fuse-examples button").first.click()           # Infrared-visible: through smoke
                expect(page.locator("#fuse-a img")).to_be_visible(timeout=30_000)
                expect(page.locator("#fuse-b img")).to_be_visible(timeout=30_000)
                page.click("#fuse-run")
                expect(page.locator("#fuse-result img")).to_have_count(2, timeout=180_000)
                expect(page.locator("#fuse-notice")).to_contain_text("(Infrared-visible)", timeout=30_000)
                if DEFAULT_WEIGHTS != "official":
                    page.locator("#weights-card").click()
                    expect(page.locator("#weights-card table").first).to_be_visible(timeout=15_000)
                assert page.locator(".toast-title.error").count() == 0
                page.locator("#fuse-examples").scroll_into_view_if_needed()
                page.evaluate("window.scrollTo(0, 0)")
                page.screenshot(path=str(shot), full_page=True)
            finally:
                browser.close()
    finally:
        app.close()
        demo._models.clear()
    assert not errors, errors
    assert shot.stat().st_size > 10_000
    if os.environ.get("GIFNET_SCREENSHOT_DIR"):
        target = Path(os.environ["GIFNET_SCREENSHOT_DIR"])
        target.mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, target / shot.name)


# ------------------------------------------------------------------------------------------ samples, Space files
def test_load_sample_copies_the_authors_pair(shared, monkeypatch, tmp_path):
    monkeypatch.setenv("GIFNET_SAMPLES", str(shared))
    a, b = demo.load_sample("medical")
    assert Path(a).parent == Path(b).parent and Path(a).parent.parent == demo.output_root()   # servable temp copies
    assert read_image(a)[0].ndim == 3 and read_image(b)[0].ndim == 2                          # PET, MRI
    band, pan = demo.load_sample("remote")                                                     # one band + PAN
    assert read_image(band)[0].shape == read_image(pan)[0].shape
    ms, pan = demo.load_remote_sample()
    assert read_image(ms[0], allow_bands=True)[0].shape[2] == 4 and read_image(pan)[0].ndim == 2
    monkeypatch.delenv("GIFNET_SAMPLES")
    monkeypatch.setenv("GIFNET_CACHE", str(tmp_path / "empty"))
    monkeypatch.setenv("GIFNET_OFFLINE", "1")
    with pytest.warns(UserWarning) as w:                                   # a toast on the page, inputs unchanged
        assert demo.load_sample("ivif") == (gr.update(), gr.update())
        assert demo.load_remote_sample() == (gr.update(), gr.update())
    text = str(w[0].message)
    assert "this server runs offline" in text and "Your inputs are unchanged" in text
    assert not any(word in text for word in ("GIFNET_OFFLINE", "pass its path", "yourself", "--"))   # no CLI advice


def test_space_folder(tmp_path):
    """demo/README.md has the Space front matter; build_space.py makes a folder whose app.py runs on its own."""
    import subprocess
    import sys

    from huggingface_hub import metadata_load

    repo = Path(__file__).resolve().parents[1]
    meta = metadata_load(repo / "demo" / "README.md")
    assert meta["sdk"] == "gradio" and meta["app_file"] == "app.py" and meta["python_version"]
    assert meta["sdk_version"].startswith("6.") and meta["models"] and meta["preload_from_hub"]
    reqs = (repo / "demo" / "requirements.txt").read_text()
    assert "torch" in reqs and "scikit-image" in reqs and "gradio" not in reqs.replace("Gradio itself", "")

    out = tmp_path / "space"
    subprocess.run([sys.executable, str(repo / "demo" / "build_space.py"), str(out), "--weights", "acme/gifnet@v2"],
                   check=True, capture_output=True)
    assert (out / "gifnet" / "demo.py").is_file() and not list(out.rglob("__pycache__"))
    assert (out / "weights.txt").read_text().strip() == "acme/gifnet@v2"
    built = metadata_load(out / "README.md")
    assert built["models"] == ["acme/gifnet"]
    assert built["preload_from_hub"] == ["acme/gifnet config.json,model.safetensors"]
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "GIFNET_WEIGHTS")}
    r = subprocess.run([sys.executable, "app.py", "--help"], cwd=out, env=env, capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0 and "--share" in r.stdout, r.stderr[-2000:]

    bare = tmp_path / "bare"
    subprocess.run([sys.executable, str(repo / "demo" / "build_space.py"), str(bare), "--no-hub-weights"], check=True,
                   capture_output=True)
    meta = metadata_load(bare / "README.md")
    assert "models" not in meta and "preload_from_hub" not in meta and not (bare / "weights.txt").exists()


def test_cli_demo_launches_with_its_options(monkeypatch):
    from gifnet import cli

    seen = {}
    monkeypatch.setattr(demo, "launch", lambda host, port, share, weights=None: seen.update(host=host, port=port,
                                                                                          share=share, weights=weights))
    monkeypatch.delenv("GIFNET_WEIGHTS", raising=False)
    assert cli.main(["demo", "--port", "7861", "--weights", "acme/gifnet@v1"]) == 0
    assert seen == {"host": "127.0.0.1", "port": 7861, "share": False, "weights": "acme/gifnet@v1"}
    assert "GIFNET_WEIGHTS" not in os.environ          # the weights travel as an argument, not through the environment


def test_zerogpu_decoration_only_when_spaces_is_installed(monkeypatch):
    """With a `spaces` package importable, the network calls are wrapped by spaces.GPU (inert off ZeroGPU); on
    ZeroGPU hardware (SPACES_ZERO_GPU set) the model goes to "cuda"; without `spaces` the functions are plain."""
    import importlib.util
    import sys
    import types

    def gpu(duration=60):
        def wrap(fn):
            fn.on_gpu = duration
            return fn
        return wrap

    def import_copy(name: str):
        spec = importlib.util.spec_from_file_location(f"gifnet._demo_{name}", demo.__file__)
        module = importlib.util.module_from_spec(spec)
        monkeypatch.setitem(sys.modules, spec.name, module)
        spec.loader.exec_module(module)
        return module

    if not demo.ZEROGPU and "spaces" not in sys.modules:          # this process: no `spaces`, plain functions
        assert not hasattr(demo._fuse_planes, "on_gpu") and demo.gpu(len) is len
    monkeypatch.setitem(sys.modules, "spaces", types.SimpleNamespace(GPU=gpu))
    monkeypatch.delenv("SPACES_ZERO_GPU", raising=False)
    cpu_space = import_copy("cpu_space")
    assert cpu_space._fuse_planes.on_gpu == cpu_space._enhance_plane.on_gpu == cpu_space._fuse_band.on_gpu == 120
    assert not cpu_space.ZEROGPU
    monkeypatch.setenv("SPACES_ZERO_GPU", "true")
    zero = import_copy("zerogpu")
    assert zero.ZEROGPU and zero.DEVICE == "cuda" and zero._fuse_planes.on_gpu == 120


def test_importing_the_demo_writes_nothing_into_the_package():
    """A gr.Image subclass would make Gradio write gifnet/demo.pyi at import (a read-only install would break)."""
    assert not Path(demo.__file__).with_suffix(".pyi").exists()


def test_space_requirements_come_from_pyproject():
    """The dependencies are stated once: demo/requirements.txt is what build_space.py generates from pyproject.toml."""
    import importlib.util

    repo = Path(__file__).resolve().parents[1]
    spec = importlib.util.spec_from_file_location("build_space", repo / "demo" / "build_space.py")
    build_space = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build_space)
    generated = build_space.requirements()
    assert (repo / "demo" / "requirements.txt").read_text() == generated
    assert "torch>=" in generated and "scikit-image" in generated and "gradio" not in generated.split("\n", 3)[-1]


"""The trainer: a CPU smoke run whose loss falls, bit-identical resume, fine-tuning with frozen parts, the output
folder, validation, callbacks and the CLI. Tiny crops (32x32, batch 2) and one thread keep it lean."""
from __future__ import annotations

import json
import logging

import numpy as np
import pytest
import torch

from gifnet import checkpoint
from gifnet.cli import main
from gifnet.data import FocusConfig, RestoreConfig
from gifnet.errors import GifnetError
from gifnet.hub import load_model
from gifnet.losses import ssim_and_contrast
from gifnet.trainer import TrainConfig, Trainer

from test_data import write_pairs  # tests/ is on sys.path (pytest prepend import mode)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return write_pairs(tmp_path_factory.mktemp("pairs"), names=tuple("abcdef"), size=(48, 56))


@pytest.fixture(autouse=True)
def one_thread():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def config(data, out, **kw) -> TrainConfig:
    base = dict(data=str(data), out=str(out), steps=4, crop=32, batch=2, ckpt_every=1000, threads=1, seed=3)
    return TrainConfig(**{**base, **kw})


def test_smoke_run_loss_falls(data, tmp_path):
    seen = []
    trainer = Trainer(config(data, tmp_path / "run", steps=8), callbacks=[lambda step, logs: seen.append((step, logs))])
    out = trainer.fit()
    assert [s for s, _ in seen] == list(range(1, 9))
    first = sum(log["ivif"] + log["mfif"] for _, log in seen[:2])
    last = sum(log["ivif"] + log["mfif"] for _, log in seen[-2:])
    assert last < 0.8 * first, (first, last)
    assert 0 < seen[0][1]["w_ir"] < 1 and seen[0][1]["lr"] == 1e-3
    # the save_pretrained folder
    assert {p.name for p in out.iterdir()} >= {"config.json", "model.safetensors", "README.md", "log.jsonl",
                                               "checkpoints"}
    model = load_model(out)                              # the folder loads through the project's one loader
    for k, v in model.state_dict().items():
        assert torch.equal(v, trainer.model.state_dict()[k])
    card = (out / "README.md").read_text()
    assert "steps: 8" in card and "trained from scratch" in card
    assert [json.loads(x)["step"] for x in (out / "log.jsonl").read_text().splitlines()] == [8]


def test_ivif_weight_scales_the_ivif_step_only(data, tmp_path):
    """`ivif_weight` multiplies the IVIF step's loss (the balance of the two steps): its gradients enter the moments
    Adam shares between the two steps W times as large, so the weights after one batch differ from the release's
    balance (the default, 1), while the logged losses stay unscaled."""
    runs = {w: Trainer(config(data, tmp_path / f"w{w}", steps=1, ivif_weight=w)) for w in (1.0, 3.0)}
    logs = {w: t.train_step(t.stream.batch(0, 2)) for w, t in runs.items()}
    assert logs[1.0]["ivif"] == pytest.approx(logs[3.0]["ivif"], rel=1e-6)      # the same batch, unscaled log
    a, b = (runs[w].model.state_dict() for w in (1.0, 3.0))
    assert any(not torch.equal(a[k], b[k]) for k in a)
    assert TrainConfig().ivif_weight == 1.0


def test_info_temperature_evens_out_the_information_weights(data, tmp_path):
    """`info_temperature` replaces the information source's own temperature; a higher one brings the IVIF step's
    weight pair nearer (0.5, 0.5) on the same batch, and None keeps the source's default."""
    runs = {t: Trainer(config(data, tmp_path / f"t{t}", steps=1, info_temperature=t)) for t in (None, 2.0, 8.0)}
    assert runs[None].info.temperature == 2.0 and runs[8.0].info.temperature == 8.0
    w_ir = {t: tr.train_step(tr.stream.batch(0, 2))["w_ir"] for t, tr in runs.items()}
    assert w_ir[None] == pytest.approx(w_ir[2.0], abs=1e-7)
    assert abs(w_ir[8.0] - 0.5) < abs(w_ir[2.0] - 0.5)


def test_mfif_ssim_adds_the_ssim_term_to_the_mfif_step_only(data, tmp_path):
    """`mfif_ssim` W (off by default): the MFIF step's fusion loss is MSE(out, vis) + W * (1 - SSIM(out, vis)); the
    IVIF step's is unchanged."""
    assert TrainConfig().mfif_ssim == 0.0
    runs = {w: Trainer(config(data, tmp_path / f"s{w}", steps=1, mfif_ssim=w)) for w in (0.0, 0.5)}
    batch = runs[0.0].stream.batch(0, 2)
    weights = (torch.tensor(0.5), torch.tensor(0.5))
    m = runs[0.0].model                                       # the same seed: the same initial network
    with torch.no_grad():
        plain = {task: runs[0.0].step_loss(task, batch, weights) for task in ("ivif", "mfif")}
        ssim = {task: runs[0.5].step_loss(task, batch, weights) for task in ("ivif", "mfif")}
        f_ivif, f_mfif = m.encoder(batch["ir"], batch["vis"]), m.encoder(batch["near"], batch["far"])
        out = m.decoder(f_mfif, m.transformer(f_ivif, f_mfif, mode="mfif", detach_other=True))
    s, _ = ssim_and_contrast(out.float(), batch["vis"])
    assert ssim["ivif"][1].item() == pytest.approx(plain["ivif"][1].item(), rel=1e-6)
    assert ssim["mfif"][1].item() == pytest.approx(plain["mfif"][1].item() + 0.5 * (1 - s).mean().item(), rel=1e-5)
    assert 0 < (1 - s).mean().item() < 2


def test_anchor_matches_the_inference_path_on_ivif_pairs(data, tmp_path):
    """`anchor` (off by default): the MFIF step also fuses (ir, vis) as inference does and matches the anchor
    network's fusion. Anchored to its own weights the term starts at zero and stays small; its gradients reach the
    encoder and the MFIF branch, not the IVIF branch."""
    assert TrainConfig().anchor is None
    plain = Trainer(config(data, tmp_path / "plain", steps=1))
    assert "mfif_anchor" not in plain.train_step(plain.stream.batch(0, 2))
    init = tmp_path / "init"
    Trainer(config(data, init, steps=1)).fit()
    t = Trainer(config(data, tmp_path / "a", steps=1, init=str(init), anchor=str(init), anchor_weight=2.0))
    batch = {k: v.contiguous(memory_format=torch.channels_last) for k, v in t.stream.batch(0, 2).items()}
    with torch.no_grad():
        batch["anchor"] = t.anchor(batch["ir"], batch["vis"])
    loss, fusion, rec, anchor = t.step_loss("mfif", batch)
    assert anchor.item() < 1e-10                              # the same network, fp32: the same fusion
    assert loss.item() == pytest.approx(fusion.item() + rec.item(), rel=1e-6)
    batch["anchor"] = torch.zeros_like(batch["anchor"])       # a different target: a positive term, weighted
    loss, fusion, rec, anchor = t.step_loss("mfif", batch)
    assert anchor.item() > 1e-4
    assert loss.item() == pytest.approx(fusion.item() + rec.item() + 2.0 * anchor.item(), rel=1e-5)
    t.model.zero_grad(set_to_none=True)
    anchor.backward()
    grads = {n for n, p in t.model.named_parameters() if p.grad is not None and p.grad.abs().sum() > 0}
    assert any(n.startswith("encoder.") for n in grads) and any("mfif" in n for n in grads)
    assert not any("ivif" in n for n in grads), sorted(n for n in grads if "ivif" in n)
    logs = t.train_step(t.stream.batch(0, 2))                 # a training step logs the term
    assert 0 <= logs["mfif_anchor"] < 1e-2


def test_resume_is_bit_identical(data, tmp_path):
    straight = Trainer(config(data, tmp_path / "a", steps=4))
    straight.fit()
    first = Trainer(config(data, tmp_path / "b", steps=2))
    first.fit()                                   # stops at 2 with a checkpoint
    resumed = Trainer.resume(tmp_path / "b", steps=4, crop=64)   # crop is a run setting: ignored
    assert resumed.step == 2 and resumed.cfg.crop == 32
    resumed.fit()
    a, b = straight.model.state_dict(), resumed.model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    sa, sb = straight.opt.state_dict()["state"], resumed.opt.state_dict()["state"]
    assert all(torch.equal(sa[i]["exp_avg_sq"], sb[i]["exp_avg_sq"]) for i in sa)
    # control: the checkpoint really matters (a fresh 2-step run does not land on the same weights)
    assert not all(torch.equal(a[k], first.model.state_dict()[k]) for k in a)


def test_time_limit_stops_with_weights_and_resumes(data, tmp_path):
    t = Trainer(config(data, tmp_path / "run", steps=50, time_limit=0.0))   # stops after the first step
    t.fit()
    assert t.step == 1 and (tmp_path / "run" / "model.safetensors").is_file()
    assert "1 of 50 planned (stopped by the time limit)" in (tmp_path / "run" / "README.md").read_text()
    again = Trainer.resume(tmp_path / "run", steps=2, time_limit=None)
    again.fit()
    assert again.step == 2


def test_resume_warns_only_about_settings_that_differ(data, tmp_path, capsys):
    """Resuming keeps the run's settings; the warning names the given ones that differ, field by field for the
    nested configs the CLI passes as the --restore-*/--focus-* flags given."""
    run = tmp_path / "run"
    Trainer(config(data, run, steps=1, gate_init=(0.5, 0.5),
                   degradation=RestoreConfig(noise=(0.0, 0.01), gamma=(1.0, 1.1)))).fit()
    warnings = []                                                # the trainer's own logger, whatever the CLI set up
    handler = logging.Handler(logging.WARNING)
    handler.emit = lambda record: warnings.append(record.getMessage())
    logging.getLogger("gifnet.trainer").addHandler(handler)
    try:
        same = Trainer.resume(run, steps=2, gate_init=(0.5, 0.5), degradation={"noise": (0.0, 0.01)})
        assert warnings == []                                    # the same values: nothing to warn about
        other = Trainer.resume(run, steps=2, crop=64, degradation={"noise": (0.0, 0.02)}, multifocus={"grid": (2, 6)})
    finally:
        logging.getLogger("gifnet.trainer").removeHandler(handler)
    assert len(warnings) == 1 and "'crop': 64" in warnings[0] and "'noise': (0.0, 0.02)" in warnings[0]
    assert "gamma" not in warnings[0] and "multifocus" not in warnings[0]   # unchanged fields are not listed
    for t in (same, other):                                      # and nothing was changed
        assert t.cfg.crop == 32 and t.cfg.degradation == RestoreConfig(noise=(0.0, 0.01), gamma=(1.0, 1.1))
    resume = ["train", "--out", str(run), "--resume", "--steps", "1", "--threads", "1", "--focus-disk", "1.5", "5"]
    capsys.readouterr()
    assert main([*resume, "--restore-gamma", "1", "1.1"]) == 0   # the CLI passes only the flags given
    assert "resuming keeps" not in capsys.readouterr().err
    assert main([*resume, "--restore-gamma", "1", "1.2"]) == 0
    assert "ignoring {'degradation': {'gamma': (1.0, 1.2)}}" in capsys.readouterr().err


def test_checkpoints_are_rotated_and_safe_to_load(data, tmp_path):
    t = Trainer(config(data, tmp_path / "run", steps=3, ckpt_every=1, keep_ckpts=2))
    t.fit()
    ckpts = sorted(p.name for p in (tmp_path / "run" / "checkpoints").iterdir())
    assert ckpts == ["step_0000002.pt", "step_0000003.pt"]
    state = torch.load(tmp_path / "run" / "checkpoints" / ckpts[-1], weights_only=True)
    assert state["step"] == 3 and state["data_position"] == 6
    with pytest.raises(GifnetError, match="already holds a training run"):
        Trainer(config(data, tmp_path / "run")).fit()
    with pytest.raises(GifnetError, match="no checkpoints"):
        Trainer.resume(tmp_path / "elsewhere")
    (tmp_path / "run" / "checkpoints" / ckpts[-1]).write_bytes(b"garbage")
    with pytest.raises(GifnetError, match="not a readable gifnet training checkpoint"):
        Trainer.resume(tmp_path / "run", steps=5)


def test_fine_tuning_with_frozen_parts(data, tmp_path):
    base = Trainer(config(data, tmp_path / "base", steps=1))
    base.fit()
    tuned = Trainer(config(data, tmp_path / "tuned", steps=2, init=str(tmp_path / "base"), lr=5e-4,
                           freeze=("encoder.", "transformer.blocks.0.")))
    start = {k: v.clone() for k, v in tuned.model.state_dict().items()}
    assert all(torch.equal(start[k], v) for k, v in base.model.state_dict().items())   # started from the weights
    tuned.fit()
    end = tuned.model.state_dict()
    for k in start:
        frozen = k.startswith(("encoder.", "transformer.blocks.0."))
        if frozen:
            assert torch.equal(start[k], end[k]), k
    assert not torch.equal(start["decoder.squeeze.weight"], end["decoder.squeeze.weight"])
    assert "fine-tuned from" in (tmp_path / "tuned" / "README.md").read_text()
    with pytest.raises(GifnetError, match="matches no parameter"):
        Trainer(config(data, tmp_path / "x", freeze=("encoders.",)))


def test_init_from_the_authors_checkpoint(data, tmp_path, shared):
    t = Trainer(config(data, tmp_path / "x", init=str(shared / "checkpoints/official/Final.model")))
    assert t.model.transformer.gate_mfif.item() == pytest.approx(0.0883, abs=1e-4)


def test_gate_init(data, tmp_path):
    """Off by default (the gates as initialised: 0); set after --init, so fine-tuning can open a loaded network's
    gates; trained from there on; a resumed run keeps its trained gates instead of setting them again."""
    plain = Trainer(config(data, tmp_path / "plain"))
    assert plain.cfg.gate_init is None
    assert plain.model.transformer.gate_ivif.item() == 0 and plain.model.transformer.gate_mfif.item() == 0
    plain.fit()
    opened = Trainer(config(data, tmp_path / "open", init=str(tmp_path / "plain"), gate_init=(0.25, 0.125)))
    t = opened.model.transformer
    assert (t.gate_ivif.item(), t.gate_mfif.item()) == (0.25, 0.125)
    for k, v in load_model(tmp_path / "plain").state_dict().items():       # everything else as loaded
        if "gate" not in k:
            assert torch.equal(v, opened.model.state_dict()[k]), k
    opened.fit()
    trained = t.gate_mfif.item()
    assert trained != 0.125                                               # the gate learns in the MFIF step
    resumed = Trainer.resume(tmp_path / "open", steps=5)
    assert resumed.model.transformer.gate_mfif.item() == trained
    assert resumed.cfg.gate_init == (0.25, 0.125)


BAR = ("en", "sd", "sf", "ag", "mi", "qabf", "vif", "ssim")


def test_validation_and_schedule(data, tmp_path):
    t = Trainer(config(data, tmp_path / "run", steps=2, val_data=str(data), val_every=1, val_images=2, val_crop=40,
                       schedule="cosine", warmup=1, lr=1e-3, lr_min=1e-5))
    seen = []
    t.callbacks.append(lambda step, logs: seen.append(logs))
    t.fit()
    first, val = seen
    group = data.name                                    # a folder with ir/ and vis/: one group named after it
    for m in BAR:
        assert np.isfinite(val[f"val/{group}/{m}"])
    assert 0 <= val[f"val/{group}/en"] <= 8 and not any(k.startswith("ratio/") for k in val)
    assert first[f"val/{group}/sf"] != val[f"val/{group}/sf"]          # the model changed between the two
    assert f"| {group} |" in (tmp_path / "run" / "README.md").read_text()
    logged = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert [e["step"] for e in logged if f"val/{group}/sf" in e] == [1, 2]
    assert t.lr_at(0) == pytest.approx(1e-3) and t.lr_at(1) == pytest.approx(1e-3)   # end of warm-up, start of cosine
    t.cfg.steps = 101
    assert t.lr_at(51) == pytest.approx((1e-3 + 1e-5) / 2) and t.lr_at(101) == pytest.approx(1e-5)


def test_validation_ratios_to_a_reference_on_evaluation_groups(data, tmp_path, shared):
    official = str(shared / "checkpoints/official/Final.model")
    t = Trainer(config(data, tmp_path / "run", steps=1, val_data=str(shared / "datasets/eval"), val_images=1,
                       val_crop=32, val_reference=official))
    t.fit()
    val = t.last_val
    groups = ["tno", "vifb", "lytro", "mffw", "mefb", "ct-mri", "pet-mri", "spect-mri"]
    assert sorted({k.split("/")[1] for k in val if k.startswith("val/")}) == sorted(groups)
    for g in groups:
        for m in BAR:
            assert val[f"ratio/{g}/{m}"] == pytest.approx(val[f"val/{g}/{m}"] / t.reference_scores[f"{g}/{m}"])
    assert val["ratio/min"] == min(v for k, v in val.items() if k.startswith("ratio/") and k.count("/") == 2
                                   and not k.startswith("ratio/worst/"))
    assert val["ratio/worst/sf"] == min(val[f"ratio/{g}/sf"] for g in groups)
    cells = [val[f"ratio/{g}/{m}"] for g in groups for m in BAR]
    assert val["ratio/below"] == sum(c < 0.95 for c in cells)
    assert val["ratio/gap"] == pytest.approx(sum(0.95 - c for c in cells if c < 0.95))
    assert "ratio to the reference model" in (tmp_path / "run" / "README.md").read_text()


@pytest.mark.parametrize("bad,match", [(dict(crop=8), "crop must be at least 16"), (dict(steps=0), "steps"),
                                       (dict(device="cuda:0") if not torch.cuda.is_available() else dict(lr=-1),
                                        "CUDA|lr must be positive"),
                                       (dict(precision="fp16") if not torch.cuda.is_available() else dict(lr=0),
                                        "fp16|lr must be positive"),
                                       (dict(crop=64), "smaller than the 64x64 crop"),
                                       (dict(dark=1.5), "dark is a probability"),
                                       (dict(restore=-0.1), "restore is a probability"),
                                       (dict(degradation=RestoreConfig(contrast=(0.7, 1.2))), "degradation.contrast"),
                                       (dict(degradation=RestoreConfig(blur=(0.0, 1.0))), "degradation.blur"),
                                       (dict(degradation=RestoreConfig(gamma=(0.0, 1.2))), "degradation.gamma"),
                                       (dict(degradation=RestoreConfig(gain=(0.0, 1.0))), "degradation.gain"),
                                       (dict(degradation=RestoreConfig(exposed=1.5)), "degradation.exposed"),
                                       (dict(degradation=RestoreConfig(mix=(0.5, 1.5))), "degradation.mix"),
                                       (dict(degradation=RestoreConfig(edges=-0.01)), "degradation.edges"),
                                       (dict(ivif_weight=0.0), "ivif_weight must be positive"),
                                       (dict(info_temperature=0.0), "info_temperature must be positive"),
                                       (dict(anchor_weight=float("nan")), "anchor_weight must be positive"),
                                       (dict(mfif_ssim=-0.1), "mfif_ssim must be 0"),
                                       (dict(gate_init=(0.2, float("nan"))), "gate_init must be two gates"),
                                       (dict(gate_init=(0.2,)), "gate_init must be two gates"),
                                       (dict(gate_init=0.2), "gate_init must be two gates"),
                                       (dict(degradation=RestoreConfig(contrast_scale=-1.0)),
                                        "degradation.contrast_scale"),
                                       (dict(degradation=RestoreConfig(exposed=0.5)), "needs an exposure range"),
                                       (dict(degradation=RestoreConfig(knee=(0.5, 1.2))), "degradation.knee"),
                                       (dict(degradation=RestoreConfig(knee=(0.0, 1.0))), "degradation.knee"),
                                       (dict(degradation=RestoreConfig(knee=(0.8, 0.6))), "degradation.knee"),
                                       (dict(degradation=RestoreConfig(knee_level=1.0)), "degradation.knee_level"),
                                       (dict(degradation=RestoreConfig(knee_level=float("nan"))),
                                        "degradation.knee_level"),
                                       (dict(degradation=RestoreConfig(grain=(1.0, 1.0))), "noise, which is off"),
                                       (dict(multifocus=FocusConfig(grid=(0, 3))), "multifocus.grid"),
                                       (dict(multifocus=FocusConfig(coverage=(0.3, 1.0))), "multifocus.coverage"),
                                       (dict(multifocus=FocusConfig(disk_radius=(0.0, 2.0))), "multifocus.disk_radius"),
                                       (dict(multifocus=FocusConfig(gaussian_sigma=(3.0, 1.0))),
                                        "multifocus.gaussian_sigma"),
                                       (dict(multifocus=FocusConfig(gaussian_sigma=(float("nan"), 1.0))),
                                        "multifocus.gaussian_sigma"),
                                       (dict(multifocus=FocusConfig(p_disk=1.5)), "multifocus.p_disk")])
def test_bad_settings(data, tmp_path, bad, match):
    with pytest.raises(GifnetError, match=match):
        Trainer(config(data, tmp_path / "run", **bad))


def test_cli(data, tmp_path, capsys):
    out = tmp_path / "cli"
    assert main(["train", "--data", str(data), "--out", str(out), "--steps", "1", "--crop", "32", "--batch", "2",
                 "--threads", "1", "--restore", "0.5", "--restore-noise", "0.01", "0.03",
                 "--restore-grain", "0.5", "1", "--restore-gamma", "1", "1.3", "--restore-gain", "0.8", "1",
                 "--restore-exposure", "0", "1", "--restore-exposure-share", "0.4", "--restore-edges", "0.02",
                 "--restore-contrast-scale", "4", "--restore-knee", "0.7", "1", "--restore-knee-level", "0.4"]) == 0
    assert (out / "model.safetensors").is_file()
    assert main(["train", "--data", str(data), "--out", str(out), "--steps", "2", "--resume", "--threads", "1"]) == 0
    saved = TrainConfig.from_dict(checkpoint.read(checkpoint.latest(out))["config"])     # the ranges survive resume
    assert saved.restore == 0.5
    assert saved.degradation == RestoreConfig(noise=(0.01, 0.03), grain=(0.5, 1.0), gamma=(1.0, 1.3),
                                              gain=(0.8, 1.0), exposure=(0.0, 1.0), exposed=0.4, edges=0.02,
                                              contrast_scale=4.0, knee=(0.7, 1.0), knee_level=0.4)
    assert "steps: 2" in (out / "README.md").read_text()
    anchored = tmp_path / "anchored"
    assert main(["train", "--data", str(data), "--out", str(anchored), "--steps", "1", "--crop", "32", "--batch", "2",
                 "--threads", "1", "--anchor", str(out), "--anchor-weight", "0.5", "--mfif-ssim", "0.1",
                 "--gate-init", "0.2", "0.1", "--per-sample-weights", "--info-temperature", "4",
                 "--focus-disk", "3", "8", "--focus-sigma", "2", "4", "--focus-disk-share", "0.7"]) == 0
    saved = TrainConfig.from_dict(checkpoint.read(checkpoint.latest(anchored))["config"])
    assert (saved.anchor, saved.anchor_weight, saved.mfif_ssim, saved.gate_init) == (str(out), 0.5, 0.1, (0.2, 0.1))
    assert (saved.per_sample_weights, saved.info_temperature) == (True, 4.0)
    assert saved.multifocus == FocusConfig(disk_radius=(3.0, 8.0), gaussian_sigma=(2.0, 4.0), p_disk=0.7)
    assert main(["train", "--data", str(data), "--out", str(tmp_path / "o3"), "--steps", "1", "--crop", "32",
                 "--focus-coverage", "0.5", "1.5"]) == 2
    assert "--focus-coverage" in capsys.readouterr().err
    assert main(["train", "--data", str(tmp_path / "missing"), "--out", str(tmp_path / "o"), "--steps", "1"]) == 2
    err = capsys.readouterr().err
    assert "gifnet: error:" in err and "training folder not found" in err
    assert main(["train", "--data", str(data), "--out", str(tmp_path / "o2"), "--steps", "1", "--crop", "32",
                 "--anchor", str(tmp_path / "no-such-weights")]) == 2
    assert "no-such-weights" in capsys.readouterr().err


def test_cli_resume_needs_only_the_run_folder(tmp_path):
    data, out = write_pairs(tmp_path / "pairs", names=tuple("abcd"), size=(48, 56)), tmp_path / "run"
    assert main(["train", "--data", str(data), "--out", str(out), "--steps", "1", "--crop", "32", "--batch", "2",
                 "--threads", "1"]) == 0
    assert main(["train", "--out", str(out), "--resume", "--steps", "2", "--threads", "1"]) == 0
    assert "steps: 2" in (out / "README.md").read_text()
    moved = data.rename(tmp_path / "moved")                  # the training folder on a new machine: same pairs
    assert main(["train", "--out", str(out), "--resume", "--steps", "3", "--threads", "1", "--data", str(moved)]) == 0
    other = write_pairs(tmp_path / "other", names=tuple("wxyz"), size=(48, 56))
    with pytest.raises(GifnetError, match="other pairs"):
        Trainer.resume(out, steps=4, data=str(other))


def test_cli_names_its_own_flag_in_errors(data, tmp_path, capsys):
    assert main(["train", "--data", str(data), "--out", str(tmp_path / "o"), "--crop", "8"]) == 2
    assert "gifnet: error: --crop: crop must be at least 16" in capsys.readouterr().err
    assert main(["train", "--out", str(tmp_path / "o2")]) == 2
    assert "gifnet: error: --data: no training data" in capsys.readouterr().err


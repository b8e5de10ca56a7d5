"""The model card written next to every saved GIFNet (`save_pretrained`, `push_to_hub`, `gifnet.hub.save_weights`).

It is a Jinja template rendered by `huggingface_hub.ModelCard.from_template`: `card_data` becomes the YAML front matter
(library_name, pipeline_tag, tags, license from the `PyTorchModelHubMixin` class arguments in gifnet/model.py), and
these optional `model_card_kwargs` fill the body:

    repo_id         the Hub id shown in the usage snippet ("org/name")
    weights_name    a one-line description of this checkpoint
    training_data   Markdown: what the weights were trained on (datasets, licences, crops, steps)
    evaluation      Markdown: a results table, e.g. the summary written by `gifnet evaluate`

Example: model.push_to_hub("org/gifnet", model_card_kwargs={"repo_id": "org/gifnet", "training_data": "..."}).
"""

PAPER_URL = "https://arxiv.org/abs/2502.19854"
AUTHORS_CODE_URL = "https://github.com/AWCXV/GIFNet"

CITATION = """@inproceedings{cheng2025gifnet,
  title     = {One Model for ALL: Low-Level Task Interaction Is a Key to Task-Agnostic Image Fusion},
  author    = {Cheng, Chunyang and Xu, Tianyang and Feng, Zhenhua and Wu, Xiaojun and Tang, Zhangyong and Li, Hui and
               Zhang, Zeyang and Atito, Sara and Awais, Muhammad and Kittler, Josef},
  booktitle = {Proceedings of the IEEE/CVF Conference on Computer Vision and Pattern Recognition (CVPR)},
  year      = {2025},
  note      = {arXiv:2502.19854}
}"""

MODEL_CARD = """---
{{ card_data }}
---

# GIFNet{% if weights_name %}: {{ weights_name }}{% endif %}

One small network (0.8 M parameters) for many image fusion tasks: infrared-visible, multi-focus, multi-exposure, medical
(PET/SPECT/CT + MRI), near-infrared-visible and remote sensing (pansharpening), plus single-image enhancement. It is the
model of the CVPR 2025 paper *One Model for ALL: Low-Level Task Interaction Is a Key to Task-Agnostic Image Fusion*
([paper]({{ paper_url }}), [authors' code]({{ repo_url }})), packaged by the `gifnet` library.

## Usage

```bash
pip install gifnet
gifnet fuse ir.png vis.jpg -o fused.png --task ivif --weights {{ repo_id | default("org/name") }}
```

```python
import gifnet

model = gifnet.load_model("{{ repo_id | default("org/name") }}")          # or "org/name@<revision>" to pin a version
fused = gifnet.fuse("ir.png", "vis.jpg", task="ivif", model=model)   # numpy array at the input size
gifnet.write_image(fused, "fused.png")

# the bare network: two (N, 1, H, W) tensors in [0, 1] -> (N, 1, H, W) in [0, 1]
net = gifnet.GIFNet.from_pretrained("{{ repo_id | default("org/name") }}")
```

## Tasks and slot order

The network sees one channel per source (grey, or the Y of a colour image); colour is put back afterwards. **The order
of the two inputs matters** (swapping them changes the result):

| task | first input (slot a) | second input (slot b) | colour of the result |
|---|---|---|---|
| `ivif` infrared-visible | infrared | visible | visible's chroma |
| `mfif` multi-focus | near focus | far focus | both chromas fused |
| `meif` multi-exposure | over-exposed | under-exposed | both chromas fused |
| `medical` | PET / SPECT / CT | MRI | PET/SPECT chroma |
| `nir-vis` | near-infrared | visible | visible's chroma |
| `remote` (pansharpening) | one multispectral band | panchromatic | every band fused, then reassembled |
| enhancement | the image | the same image | its own chroma |

## Training data

{% if training_data %}{{ training_data }}{% else %}Not documented for this checkpoint.{% endif %}

## Evaluation

{% if evaluation %}{{ evaluation }}{% else %}No results recorded with this card. Score the weights with
`gifnet evaluate --a DIR --b DIR --task T --weights {{ repo_id | default("org/name") }}` (EN, SD, SF, AG, MI, Qabf,
SSIM, ... as in the VIFB benchmark).{% endif %}

## Citation

If you use GIFNet, please cite the paper:

```bibtex
{{ citation }}
```
"""


def training_sections(*, data: str, pairs: int, crop: int, flips: bool, multifocus: str, recipe: dict, init: str | None,
                      info_weights: str, per_sample: bool, ssim_variant: str, steps: int, planned: int, batch: int,
                      hardware: str, precision: str, minutes: float, finished: str, losses: dict[str, float],
                      validation: str | None, val_source: str | None) -> dict[str, str]:
    """The `training_data` and `evaluation` fields of MODEL_CARD for weights written by `gifnet.trainer`, plus a
    one-line `weights_name`: what the run saw, its recipe as a table, its hardware and time, and the last validation."""
    rows = "\n".join(f"| {k} | {v} |" for k, v in recipe.items())
    stopped = f" of {planned} planned (stopped by the time limit)" if steps < planned else ""
    loss_text = ", ".join(f"{k} {v:.4f}" for k, v in losses.items() if k != "lr")
    training = f"""GIFNet {'fine-tuned from `' + init + '`' if init else 'trained from scratch'} with `gifnet.trainer`.

- Infrared/visible pairs: `{data}` ({pairs} pairs), random {crop}x{crop} grey crops (luma){', random flips' if flips
                                                                                          else ''}.
- Multi-focus pairs: synthesised from each visible crop by blurring complementary smooth random regions
  (`gifnet.data.synthesize_multifocus`, {multifocus}).
- Recipe: the release's two-step schedule (an IVIF and an MFIF Adam step per batch, gradient isolation between the
  tasks), information weights from `{info_weights}` ({'per sample' if per_sample else 'per batch'}), MS-SSIM variant
  `{ssim_variant}`.
- steps: {steps}{stopped} (batches of {batch} crops, {2 * steps} optimiser steps, {steps * batch * crop * crop / 1e6:.1f} M
  crop pixels); hardware: {hardware}, precision {precision}; training wall time {minutes:.1f} min; finished
  {finished}.
- Final running losses: {loss_text}

| setting | value |
|---|---|
{rows}"""
    if validation:
        evaluation = (f"Validation during training (`gifnet.validation`, `{val_source}`; centre crops, not whole "
                      f"images):\n\n{validation}\n\nFull evaluation: `gifnet evaluate` on the benchmark sets.")
    else:
        evaluation = "No validation was run during training. Score the weights with `gifnet evaluate`."
    return {"weights_name": f"{steps} batches of {batch}x{crop}x{crop}", "training_data": training,
            "evaluation": evaluation}

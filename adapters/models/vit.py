"""Vision Transformer trunks for re-ID, built with timm (``pretrained=False``: nothing is downloaded).

What TransReID (He et al., ICCV 2021) changed in ViT for re-ID, and what this trunk does:

- **input size**: position embeddings for the re-ID input (256x128 by default, ``img_size``);
- **overlapping patches**: the 16x16 patch projection slides with ``patch_stride`` (TransReID's
  overlap setting is 12: a 21x10 grid at 256x128 instead of 16x8); 16 gives plain ViT patches
  (TransReID's baseline, and the setting TransReID-SSL and PASS fine-tune with);
- **global feature**: the CLS token after the last LayerNorm (TransReID's global branch feeds it to
  a BNNeck). The trunk returns it as a (N, C, 1, 1) map (``output="cls"``), so ``ReidNet``'s
  average pooling passes it through unchanged and the BNNeck follows, as in TransReID. GeM would
  clamp the token's negative values, so :func:`~reidkit.adapters.models.backbone.build_reid_model`
  refuses GeM on a CLS trunk. ``output="patches"`` returns the patch tokens as a (N, C, H, W) map
  instead, for average/GeM pooling or PCB stripes over the tokens.

The ``stem="ics"`` option replaces the patch projection's input with TransReID-SSL's IBN-based
convolution stem (Luo et al., "Self-supervised Pre-training for Transformer-Based Person
Re-Identification", 2021: conv 7x7/2 + IBN + ReLU, conv 3x3 + IBN + ReLU, conv 3x3 + BN + ReLU,
then an 8x8 projection), the stem of its ``*_ics_*`` checkpoints.

Parameter names are timm's (``cls_token``, ``pos_embed``, ``patch_embed.proj.weight``,
``blocks.0.attn.qkv.weight``, ``norm.weight``), which TransReID, TransReID-SSL, PASS and DINO share,
so their files load key for key after the readers in ``weights.py`` strip their prefixes. A file's
``pos_embed`` for another grid is resampled (bilinearly, as TransReID does) when it is loaded, and
at run time for an input of another size than ``img_size``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from reidkit.adapters.models.ibn import IBN

# Our names -> timm's architectures (the 224 refers only to timm's default input size).
VITS = {
    "vit_small_patch16": "vit_small_patch16_224",  # ViT-S/16 (DeiT-S): 384 wide, 12 blocks, 6 heads
    "vit_base_patch16": "vit_base_patch16_224",  # ViT-B/16: 768 wide, 12 blocks, 12 heads
}
VIT_OUTPUTS = ("cls", "patches")
VIT_STEMS = ("patch", "ics")
DEFAULT_IMG_SIZE = (256, 128)
DEFAULT_PATCH_STRIDE = 12  # TransReID's overlapping patches
DEFAULT_DROP_PATH = 0.1  # TransReID's and TransReID-SSL's stochastic depth
ICS_WIDTH = 64


class ViTTrunk(nn.Module):
    """Patch embedding (with a stride), CLS token + position embeddings, the transformer blocks and
    the final LayerNorm of a timm ViT; ``out_channels`` is the embedding width.

    The modules are timm's, adopted under timm's attribute names; ``grid`` is the patch grid the
    position embeddings are laid out for."""

    def __init__(
        self,
        vit: nn.Module,
        *,
        img_size: tuple[int, int],
        patch_stride: int,
        output: str,
        stem: str,
    ) -> None:
        super().__init__()
        if output not in VIT_OUTPUTS:
            raise ValueError(f"ViT output must be one of {VIT_OUTPUTS}, got {output!r}")
        if stem not in VIT_STEMS:
            raise ValueError(f"ViT stem must be one of {VIT_STEMS}, got {stem!r}")
        patch = int(vit.patch_embed.proj.kernel_size[0])
        if not 1 <= patch_stride <= patch:
            raise ValueError(f"patch_stride must be in [1, {patch}] (the patch size), got {patch_stride}")
        height, width = img_size
        if height < patch or width < patch:
            raise ValueError(f"img_size must be at least the patch size {patch}, got {img_size}")
        width_c = int(vit.embed_dim)
        self.cls_token = vit.cls_token
        self.patch_embed = vit.patch_embed
        self.pos_drop = vit.pos_drop
        self.norm_pre = vit.norm_pre
        self.blocks = vit.blocks
        self.norm = vit.norm
        if stem == "ics":
            if patch_stride % 2 or patch % 2:
                raise ValueError(f"the ICS stem halves the patch and its stride: both must be even, got {patch}/{patch_stride}")
            self.patch_embed.conv = _ics_stem()
            self.patch_embed.proj = nn.Conv2d(ICS_WIDTH, width_c, patch // 2, stride=patch_stride // 2)
        else:
            self.patch_embed.proj.stride = (patch_stride, patch_stride)
        self.stem = stem
        self.patch_size = patch
        self.patch_stride = patch_stride
        self.img_size = (int(height), int(width))
        self.grid = self.grid_for(height, width)
        # Keep timm's bookkeeping true to this trunk (its own forward is not used).
        self.patch_embed.img_size, self.patch_embed.grid_size = self.img_size, self.grid
        self.patch_embed.num_patches = self.grid[0] * self.grid[1]
        self.pos_embed = nn.Parameter(torch.zeros(1, 1 + self.grid[0] * self.grid[1], width_c))
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        self.output = output
        self.out_channels = width_c
        # What ReidNet needs to know: a CLS trunk's map is one token, not a spatial map.
        self.global_token = output == "cls"

    def grid_for(self, height: int, width: int) -> tuple[int, int]:
        """The patch grid of an input of ``height`` x ``width`` pixels."""
        return ((height - self.patch_size) // self.patch_stride + 1, (width - self.patch_size) // self.patch_stride + 1)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = images
        if self.stem == "ics":
            x = self.patch_embed.conv(x)
        x = self.patch_embed.proj(x)
        n, c, gh, gw = x.shape
        tokens = self.patch_embed.norm(x.flatten(2).transpose(1, 2))
        tokens = torch.cat((self.cls_token.expand(n, -1, -1), tokens), dim=1)
        tokens = self.pos_drop(tokens + self.position_embeddings(gh, gw))
        tokens = self.norm(self.blocks(self.norm_pre(tokens)))
        if self.output == "cls":
            return tokens[:, 0, :, None, None]
        return tokens[:, 1:].transpose(1, 2).reshape(n, c, gh, gw)

    def position_embeddings(self, height: int, width: int) -> torch.Tensor:
        """``pos_embed`` for a ``height`` x ``width`` patch grid (resampled when it is not ``grid``)."""
        if (height, width) == self.grid:
            return self.pos_embed
        return resample_position_embeddings(self.pos_embed, self.grid, (height, width))

    def adapt_state_dict(self, state: dict[str, torch.Tensor], prefix: str) -> list[str]:
        """Called by ``load_pretrained`` before the comparison: resamples a file's ``pos_embed``
        laid out for another grid (an ImageNet file's 14x14, a 256x128 one at stride 16's 16x8)
        to this trunk's grid. Returns what it changed, for the load report."""
        key = f"{prefix}pos_embed"
        saved = state.get(key)
        if saved is None or saved.shape == self.pos_embed.shape:
            return []
        if saved.ndim != 3 or saved.shape[0] != 1 or saved.shape[2] != self.pos_embed.shape[2]:
            return []  # another width: reported as a shape mismatch, not guessed at
        patches = int(saved.shape[1]) - 1
        old_grid = infer_grid(patches, self.grid)
        if old_grid is None:
            return []
        state[key] = resample_position_embeddings(saved, old_grid, self.grid)
        return [f"{key}: grid {old_grid[0]}x{old_grid[1]} -> {self.grid[0]}x{self.grid[1]} (bilinear)"]

    def extra_repr(self) -> str:
        return f"img_size={self.img_size}, grid={self.grid}, patch_stride={self.patch_stride}, output={self.output!r}, stem={self.stem!r}"


def _ics_stem() -> nn.Sequential:
    """TransReID-SSL's IBN-based convolution stem (indexes as in its files: conv.0, conv.1.IN ...)."""
    return nn.Sequential(
        nn.Conv2d(3, ICS_WIDTH, 7, stride=2, padding=3, bias=False),
        IBN(ICS_WIDTH),
        nn.ReLU(inplace=True),
        nn.Conv2d(ICS_WIDTH, ICS_WIDTH, 3, stride=1, padding=1, bias=False),
        IBN(ICS_WIDTH),
        nn.ReLU(inplace=True),
        nn.Conv2d(ICS_WIDTH, ICS_WIDTH, 3, stride=1, padding=1, bias=False),
        nn.BatchNorm2d(ICS_WIDTH),
        nn.ReLU(inplace=True),
    )


def infer_grid(patches: int, target: tuple[int, int]) -> tuple[int, int] | None:
    """The grid a file's ``patches`` position embeddings were laid out on: square when the count is
    a perfect square (ImageNet files), else the factor pair closest to ``target``'s aspect ratio
    (a 256x128 file at stride 16 has 128 = 16x8; at stride 12, 210 = 21x10). None for no patches."""
    if patches < 1:
        return None
    root = math.isqrt(patches)
    if root * root == patches:
        return (root, root)
    aspect = target[0] / target[1]
    pairs = [(h, patches // h) for h in range(1, patches + 1) if patches % h == 0]
    return min(pairs, key=lambda hw: abs(math.log((hw[0] / hw[1]) / aspect)))


def resample_position_embeddings(pos_embed: torch.Tensor, old_grid: tuple[int, int], new_grid: tuple[int, int]) -> torch.Tensor:
    """(1, 1 + old_h*old_w, C) -> (1, 1 + new_h*new_w, C): the CLS position kept, the patch grid
    resampled bilinearly (TransReID's ``resize_pos_embed``)."""
    cls_pos, grid = pos_embed[:, :1], pos_embed[:, 1:]
    channels = grid.shape[-1]
    grid = grid.reshape(1, old_grid[0], old_grid[1], channels).permute(0, 3, 1, 2)
    grid = F.interpolate(grid.float(), size=new_grid, mode="bilinear", align_corners=False).to(pos_embed.dtype)
    grid = grid.permute(0, 2, 3, 1).reshape(1, new_grid[0] * new_grid[1], channels)
    return torch.cat((cls_pos, grid), dim=1)


def build_vit_trunk(
    name: str,
    *,
    img_size: tuple[int, int] | list[int] = DEFAULT_IMG_SIZE,
    patch_stride: int = DEFAULT_PATCH_STRIDE,
    drop_path_rate: float = DEFAULT_DROP_PATH,
    output: str = "cls",
    stem: str = "patch",
) -> ViTTrunk:
    """A randomly initialised ViT trunk (``vit_small_patch16``, ``vit_base_patch16``) through
    ``timm.create_model(pretrained=False)``."""
    if name not in VITS:
        raise ValueError(f"ViT backbone must be one of {sorted(VITS)}, got {name!r}")
    if len(img_size) != 2:
        raise ValueError(f"img_size must be (height, width), got {img_size!r}")
    if not 0.0 <= drop_path_rate < 1.0:
        raise ValueError(f"drop_path_rate must be in [0, 1), got {drop_path_rate}")
    height, width = (int(v) for v in img_size)
    import timm  # imported when a ViT is built: importing timm takes seconds, and most runs need none

    vit = timm.create_model(
        VITS[name], pretrained=False, num_classes=0, img_size=(height, width), drop_path_rate=drop_path_rate
    )
    return ViTTrunk(vit, img_size=(height, width), patch_stride=int(patch_stride), output=output, stem=stem)

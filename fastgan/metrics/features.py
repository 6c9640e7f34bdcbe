"""Feature extractors for the metric classes: raw pixels, and Inception-v3 pool3 features.

The Inception network is the one FID and KID are reported with (pytorch-fid, torch-fidelity):
Inception-v3 with the TensorFlow 2015-12-05 weights, whose pooling differs from torchvision's
model in three blocks (average pools that ignore padding; a max pool in the last block), read
at the 2048-d global average pool. It is written here so that torchvision is not needed. The
weights are never downloaded: they are read from a file the user names, or from the torch hub
cache where pytorch-fid puts them.
"""
from __future__ import annotations

import os
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["Pixels", "InceptionV3Features", "load_inception", "resolve", "INCEPTION_WEIGHTS",
           "INCEPTION_URL"]

# pytorch-fid's port of the TensorFlow FID weights (a state dict with the module names used below)
INCEPTION_WEIGHTS = "pt_inception-2015-12-05-6726825d.pth"
INCEPTION_URL = ("https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/"
                 + INCEPTION_WEIGHTS)


class Pixels(nn.Module):
    """Flattened pixels as features: (B, ...) -> (B, prod(...)) float32.

    With ``size`` an image batch (B, C, H, W) or (B, H, W) is first average-pooled to
    size × size (``adaptive_avg_pool2d``), so the feature dimension stays small enough for a
    D × D covariance (FID) on larger images.

    >>> Pixels(size=4)(torch.rand(10, 3, 32, 32)).shape
    torch.Size([10, 48])
    """

    def __init__(self, size: int | None = None):
        super().__init__()
        if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 1):
            raise ValueError(f"size must be a positive int or None, got {size!r}")
        self.size = size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() < 2:
            raise ValueError(f"Pixels: x must have a batch dimension, got shape {tuple(x.shape)}")
        x = x.float()
        if self.size is not None:
            if x.dim() == 3:
                x = x[:, None]
            if x.dim() != 4:
                raise ValueError(f"Pixels(size=...) needs images (B, C, H, W) or (B, H, W), got shape "
                                 f"{tuple(x.shape)}")
            x = F.adaptive_avg_pool2d(x, self.size)
        return x.flatten(1)


class _Conv(nn.Module):
    # convolution without bias, batch norm (TensorFlow's eps), ReLU: Inception's basic unit
    def __init__(self, cin, cout, kernel_size, stride=1, padding=0):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel_size, stride=stride, padding=padding, bias=False)
        self.bn = nn.BatchNorm2d(cout, eps=0.001)

    def forward(self, x):
        return F.relu(self.bn(self.conv(x)))


def _avg(x):
    # the TensorFlow graph averages over the valid pixels only
    return F.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False)


class _BlockA(nn.Module):
    def __init__(self, cin, pool_features):
        super().__init__()
        self.branch1x1 = _Conv(cin, 64, 1)
        self.branch5x5_1 = _Conv(cin, 48, 1)
        self.branch5x5_2 = _Conv(48, 64, 5, padding=2)
        self.branch3x3dbl_1 = _Conv(cin, 64, 1)
        self.branch3x3dbl_2 = _Conv(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = _Conv(96, 96, 3, padding=1)
        self.branch_pool = _Conv(cin, pool_features, 1)

    def forward(self, x):
        return torch.cat([self.branch1x1(x), self.branch5x5_2(self.branch5x5_1(x)),
                          self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x))),
                          self.branch_pool(_avg(x))], 1)


class _BlockB(nn.Module):
    def __init__(self, cin):
        super().__init__()
        self.branch3x3 = _Conv(cin, 384, 3, stride=2)
        self.branch3x3dbl_1 = _Conv(cin, 64, 1)
        self.branch3x3dbl_2 = _Conv(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = _Conv(96, 96, 3, stride=2)

    def forward(self, x):
        return torch.cat([self.branch3x3(x),
                          self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x))),
                          F.max_pool2d(x, 3, stride=2)], 1)


class _BlockC(nn.Module):
    def __init__(self, cin, c7):
        super().__init__()
        self.branch1x1 = _Conv(cin, 192, 1)
        self.branch7x7_1 = _Conv(cin, c7, 1)
        self.branch7x7_2 = _Conv(c7, c7, (1, 7), padding=(0, 3))
        self.branch7x7_3 = _Conv(c7, 192, (7, 1), padding=(3, 0))
        self.branch7x7dbl_1 = _Conv(cin, c7, 1)
        self.branch7x7dbl_2 = _Conv(c7, c7, (7, 1), padding=(3, 0))
        self.branch7x7dbl_3 = _Conv(c7, c7, (1, 7), padding=(0, 3))
        self.branch7x7dbl_4 = _Conv(c7, c7, (7, 1), padding=(3, 0))
        self.branch7x7dbl_5 = _Conv(c7, 192, (1, 7), padding=(0, 3))
        self.branch_pool = _Conv(cin, 192, 1)

    def forward(self, x):
        b7 = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        d = x
        for m in (self.branch7x7dbl_1, self.branch7x7dbl_2, self.branch7x7dbl_3, self.branch7x7dbl_4,
                  self.branch7x7dbl_5):
            d = m(d)
        return torch.cat([self.branch1x1(x), b7, d, self.branch_pool(_avg(x))], 1)


class _BlockD(nn.Module):
    def __init__(self, cin):
        super().__init__()
        self.branch3x3_1 = _Conv(cin, 192, 1)
        self.branch3x3_2 = _Conv(192, 320, 3, stride=2)
        self.branch7x7x3_1 = _Conv(cin, 192, 1)
        self.branch7x7x3_2 = _Conv(192, 192, (1, 7), padding=(0, 3))
        self.branch7x7x3_3 = _Conv(192, 192, (7, 1), padding=(3, 0))
        self.branch7x7x3_4 = _Conv(192, 192, 3, stride=2)

    def forward(self, x):
        b7 = self.branch7x7x3_4(self.branch7x7x3_3(self.branch7x7x3_2(self.branch7x7x3_1(x))))
        return torch.cat([self.branch3x3_2(self.branch3x3_1(x)), b7, F.max_pool2d(x, 3, stride=2)], 1)


class _BlockE(nn.Module):
    def __init__(self, cin, max_pool: bool):
        super().__init__()
        self.max_pool = max_pool  # the last block pools by max in the TensorFlow graph
        self.branch1x1 = _Conv(cin, 320, 1)
        self.branch3x3_1 = _Conv(cin, 384, 1)
        self.branch3x3_2a = _Conv(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3_2b = _Conv(384, 384, (3, 1), padding=(1, 0))
        self.branch3x3dbl_1 = _Conv(cin, 448, 1)
        self.branch3x3dbl_2 = _Conv(448, 384, 3, padding=1)
        self.branch3x3dbl_3a = _Conv(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3dbl_3b = _Conv(384, 384, (3, 1), padding=(1, 0))
        self.branch_pool = _Conv(cin, 192, 1)

    def forward(self, x):
        b3 = self.branch3x3_1(x)
        d = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        pool = F.max_pool2d(x, 3, stride=1, padding=1) if self.max_pool else _avg(x)
        return torch.cat([self.branch1x1(x), self.branch3x3_2a(b3), self.branch3x3_2b(b3),
                          self.branch3x3dbl_3a(d), self.branch3x3dbl_3b(d), self.branch_pool(pool)], 1)


class InceptionV3Features(nn.Module):
    """Inception-v3 up to its 2048-d pool3 features, the FID/KID variant (randomly initialised;
    see :func:`load_inception` for the standard weights).

    Input: images (B, 3, H, W) (or (B, 1, H, W), repeated to 3 channels) with values in [0, 1];
    they are resized to 299 × 299 (bilinear) and mapped to [−1, 1] as the TensorFlow graph
    expects. Output: (B, 2048) float32. Always in eval mode (batch norm uses its statistics).

    >>> InceptionV3Features()(torch.rand(2, 3, 64, 64)).shape
    torch.Size([2, 2048])
    """

    def __init__(self):
        super().__init__()
        self.Conv2d_1a_3x3 = _Conv(3, 32, 3, stride=2)
        self.Conv2d_2a_3x3 = _Conv(32, 32, 3)
        self.Conv2d_2b_3x3 = _Conv(32, 64, 3, padding=1)
        self.Conv2d_3b_1x1 = _Conv(64, 80, 1)
        self.Conv2d_4a_3x3 = _Conv(80, 192, 3)
        self.Mixed_5b = _BlockA(192, 32)
        self.Mixed_5c = _BlockA(256, 64)
        self.Mixed_5d = _BlockA(288, 64)
        self.Mixed_6a = _BlockB(288)
        self.Mixed_6b = _BlockC(768, 128)
        self.Mixed_6c = _BlockC(768, 160)
        self.Mixed_6d = _BlockC(768, 160)
        self.Mixed_6e = _BlockC(768, 192)
        self.Mixed_7a = _BlockD(768)
        self.Mixed_7b = _BlockE(1280, max_pool=False)
        self.Mixed_7c = _BlockE(2048, max_pool=True)
        self.eval()

    def train(self, mode: bool = True):
        return super().train(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1] not in (1, 3):
            raise ValueError(f"InceptionV3Features: x must be (B, 3, H, W) or (B, 1, H, W) images in [0, 1], "
                             f"got shape {tuple(x.shape)}")
        x = x.float()
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        x = F.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False)
        x = 2.0 * x - 1.0
        x = self.Conv2d_2b_3x3(self.Conv2d_2a_3x3(self.Conv2d_1a_3x3(x)))
        x = F.max_pool2d(x, 3, stride=2)
        x = self.Conv2d_4a_3x3(self.Conv2d_3b_1x1(x))
        x = F.max_pool2d(x, 3, stride=2)
        for name in ("Mixed_5b", "Mixed_5c", "Mixed_5d", "Mixed_6a", "Mixed_6b", "Mixed_6c", "Mixed_6d",
                     "Mixed_6e", "Mixed_7a", "Mixed_7b", "Mixed_7c"):
            x = getattr(self, name)(x)
        return F.adaptive_avg_pool2d(x, 1).flatten(1)


def _hub_path() -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints" / INCEPTION_WEIGHTS


def load_inception(weights: str | os.PathLike | None = None, *, device=None) -> nn.Module:
    """The FID/KID Inception-v3 feature extractor with the standard weights, read from disk.

    ``weights``: a state-dict file with this module's parameter names (pytorch-fid's
    ``pt_inception-2015-12-05-6726825d.pth``; its classifier ``fc.*`` entries are ignored; any
    other network can be passed to the metrics as an ``nn.Module`` instead). Default:
    that file in the torch hub cache (``torch.hub.get_dir()/checkpoints/``), where pytorch-fid
    stores it. Nothing is downloaded; a missing file raises FileNotFoundError saying where to
    get it.

    >>> extractor = load_inception("pt_inception-2015-12-05-6726825d.pth")  # doctest: +SKIP
    """
    path = Path(weights) if weights is not None else _hub_path()
    if not path.is_file():
        raise FileNotFoundError(
            f"Inception weights not found at {str(path)!r}. fastgan never downloads them: fetch "
            f"{INCEPTION_URL} once (e.g. with curl or a browser) and pass its path as weights=, or put "
            f"it in {str(_hub_path().parent)!r}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ValueError(f"{str(path)!r} is not a readable torch state dict ({type(exc).__name__}); "
                         "a truncated download? fetch it again") from None
    if not isinstance(state, dict):
        raise ValueError(f"{str(path)!r} holds a {type(state).__name__}, not a state dict")
    model = InceptionV3Features()
    state = {k: v for k, v in state.items() if not k.startswith(("fc.", "AuxLogits."))}
    try:
        missing, unexpected = model.load_state_dict(state, strict=False)
    except RuntimeError as exc:  # a tensor of the wrong shape
        raise ValueError(f"{str(path)!r} does not fit Inception-v3: {str(exc).splitlines()[-1].strip()}") from None
    # files saved before torch 0.4.1 have no batch-norm step counters; eval mode never reads them
    missing = [k for k in missing if not k.endswith("num_batches_tracked")]
    if missing or unexpected:
        raise ValueError(f"{str(path)!r} is not an Inception-v3 FID state dict: missing "
                         f"{sorted(missing)[:3]}..., unexpected {sorted(unexpected)[:3]}...")
    return model.to(device) if device is not None else model


def resolve(spec):
    """A feature extractor from its description: None (features given directly), an
    ``nn.Module`` or callable (used as is, under no_grad), ``"pixels"`` (:class:`Pixels`),
    ``"inception"`` (:func:`load_inception` from the hub cache)."""
    if spec is None or isinstance(spec, nn.Module):
        return spec
    if isinstance(spec, str):
        if spec == "pixels":
            return Pixels()
        if spec == "inception":
            return load_inception()
        raise ValueError(f"feature_extractor must be None, an nn.Module, a callable, 'pixels' or "
                         f"'inception', got {spec!r}")
    if callable(spec):
        return spec
    raise TypeError(f"feature_extractor must be None, an nn.Module, a callable, 'pixels' or 'inception', "
                    f"got {type(spec).__name__}")

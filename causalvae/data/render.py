"""Vectorised rasteriser of dSprites-style sprites (square, ellipse, heart) on a square canvas.

Geometry (canvas units, the canvas is the unit square, x = column left to right, y = row top to
bottom; a pixel is "on" when its centre lies inside the shape, so images are binary masks times a
brightness):

- the sprite centre is at ``MARGIN + (1 - 2 * MARGIN) * pos`` for ``pos`` = posX / posY in [0, 1],
  so centres span 0.24 ... 0.76 of the canvas (official images: roughly 0.2 ... 0.8);
- a sprite of scale ``s`` has half-width ``s * HALF_EXTENT`` (a scale-1 square is 0.32 of the
  canvas wide, about 20 px of 64; a scale-0.5 square about 10 px).  One scale step (0.1) then
  widens a sprite by about 2 px, so every scale step changes the image (the official grid was
  chosen so that all images differ), and a square turned by 45 degrees at an extreme position
  still stays inside the canvas;
- the ellipse has semi-axes ``1 x 0.5`` half-widths (major axis horizontal at orientation 0);
- the heart is the filled curve ``(X^2 + Y^2 - 1)^3 - X^2 Y^3 <= 0`` scaled to the same half-width,
  upright at orientation 0 and shifted so its area centroid is the sprite centre;
- ``orientation`` (radians) rotates the sprite counter-clockwise on screen about its centre.

Every shape is centred on its area centroid, so rotation never moves a sprite's centroid.
"""

from __future__ import annotations

import numpy as np

SQUARE, ELLIPSE, HEART = 1, 2, 3
SHAPE_NAMES = {SQUARE: "square", ELLIPSE: "ellipse", HEART: "heart"}
MARGIN = 0.24
HALF_EXTENT = 0.16
ELLIPSE_MINOR = 0.5
# Heart curve: x spans +-1.1384 and its area centroid sits at y = 0.2935 (y up); measured on a
# 4001 x 4001 grid over [-1.6, 1.6]^2.
_HEART_HALF_WIDTH = 1.1384
_HEART_CENTROID_Y = 0.2935


def sprite_centre(pos: np.ndarray | float) -> np.ndarray:
    """Canvas coordinate (0..1) of the sprite centre for a position factor in [0, 1]."""
    return MARGIN + (1.0 - 2.0 * MARGIN) * np.asarray(pos, dtype=np.float64)


def render_sprites(shape: np.ndarray, scale: np.ndarray, orientation: np.ndarray, pos_x: np.ndarray,
                   pos_y: np.ndarray, *, brightness: np.ndarray | float = 1.0, size: int = 64) -> np.ndarray:
    """Rasterise sprites, one per row of the parameter arrays.

    Parameters
    ----------
    shape : codes 1 (square), 2 (ellipse), 3 (heart), as dSprites ``latents_values[:, 1]``.
    scale, orientation, pos_x, pos_y : dSprites factor values (orientation in radians).
    brightness : intensity of the sprite pixels (scalar or one per sprite).
    size : canvas side in pixels.

    Returns
    -------
    float32 array ``(n, size, size)``: 0 background, ``brightness`` inside the shape.

    Examples
    --------
    >>> img = render_sprites([1], [1.0], [0.0], [0.5], [0.5])
    >>> img.shape, float(img.max())
    ((1, 64, 64), 1.0)
    """
    codes = np.asarray(shape).reshape(-1)
    n = codes.size
    params = [np.asarray(p, dtype=np.float64).reshape(-1) for p in (scale, orientation, pos_x, pos_y, brightness)]
    if any(p.size not in (1, n) for p in params):
        raise ValueError(f"sprite parameters must have length {n} (one per shape) or 1, got lengths "
                         f"{[p.size for p in params]} for (scale, orientation, pos_x, pos_y, brightness)")
    params = [np.broadcast_to(p, (n,)) for p in params]
    scale_, orient, pos_x_, pos_y_, bright = params
    bad = np.setdiff1d(np.unique(codes), list(SHAPE_NAMES))
    if bad.size:
        raise ValueError(f"shape codes must be in {sorted(SHAPE_NAMES)} ({SHAPE_NAMES}), got {bad.tolist()}")
    if np.any(scale_ <= 0):
        raise ValueError(f"scale must be positive, got min {scale_.min()}")
    out = np.zeros((n, size, size), dtype=np.float32)
    centres = (np.arange(size, dtype=np.float32) + 0.5) / size
    for code in np.unique(codes):
        rows = np.flatnonzero(codes == code)
        u, v = _local_coordinates(centres, scale_[rows], orient[rows], pos_x_[rows], pos_y_[rows])
        inside = _INSIDE[int(code)](u, v)
        out[rows] = inside * bright[rows, None, None].astype(np.float32)
    return out


def _local_coordinates(centres: np.ndarray, scale: np.ndarray, orientation: np.ndarray, pos_x: np.ndarray,
                       pos_y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pixel centres in each sprite's frame (y up), in units of the sprite half-width."""
    radius = (scale * HALF_EXTENT).astype(np.float32)
    cos = (np.cos(orientation) / radius).astype(np.float32)[:, None, None]
    sin = (np.sin(orientation) / radius).astype(np.float32)[:, None, None]
    dx = centres[None, None, :] - sprite_centre(pos_x).astype(np.float32)[:, None, None]   # (n, 1, W)
    dy = sprite_centre(pos_y).astype(np.float32)[:, None, None] - centres[None, :, None]   # (n, H, 1), y up
    u = cos * dx + sin * dy      # rotate by -orientation: the sprite turns counter-clockwise
    v = cos * dy - sin * dx
    return u, v


def _inside_square(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    return np.maximum(np.abs(u), np.abs(v)) <= 1.0


def _inside_ellipse(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    return u * u + (v * v) * (1.0 / ELLIPSE_MINOR ** 2) <= 1.0


def _inside_heart(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    x2 = np.square(u * _HEART_HALF_WIDTH)
    y = v * _HEART_HALF_WIDTH + _HEART_CENTROID_Y
    r = x2 + y * y - 1.0
    return r * r * r <= x2 * (y * y * y)


_INSIDE = {SQUARE: _inside_square, ELLIPSE: _inside_ellipse, HEART: _inside_heart}

"""``pendulum``: 64 x 64 images of a pendulum, a light and the pendulum's shadow, with a known DAG.

Re-implements the geometry of CausalVAE's pendulum data (Yang et al. 2021, ``causal_data/pendulum.py``
in huawei-noah/trustworthyAI) as a structural causal model with continuous factors and mechanism
noise.  DAG: ``pendulum_angle -> {shadow_length, shadow_position} <- light_angle``.

Geometry, in the original's frame (x right, y up; units of the original ~20 x 22 plot): the rod
hangs from the pivot ``(10, 10.5)``; the bob (radius 1.5) is centred at
``(10 + 8 sin theta, 10.5 - 8 cos theta)``, so its far edge is at distance 9.5 from the pivot.
Light arrives along the direction ``(cos phi, sin phi)`` (a distant source at angle ``phi`` above
the horizontal); the shadow of a point ``(x, y)`` on the ground line ``y = -0.5`` is::

    proj(x, y) = x - (y + 0.5) cot(phi)

(the original's ``(-0.5 - (y - x tan phi)) / tan phi``, written with ``cot = cos / sin`` so that
``phi = pi / 2``, light from straight above, is regular: the original skipped that angle because
``tan(pi / 2)`` is infinite; here ``proj(x, y) = x`` there).  With ``e_j ~ U(-sqrt 3, sqrt 3)``
(mean 0, sd 1)::

    pendulum_angle  theta ~ U(-40 pi / 200, 43 pi / 200)       (the original's i = -40 ... 43)
    light_angle     phi   ~ U( 60 pi / 200, 147 pi / 200)      (the original's j = 60 ... 147)
    a = proj(10, 10.5),  b = proj(10 + 9.5 sin theta, 10.5 - 9.5 cos theta)
    shadow_length   = max(3, |a - b|) + 0.12 e_length           |a - b| = 9.5 |cos(phi - theta)| / sin(phi)
    shadow_position = (a + b) / 2     + 0.17 e_position         = 10 + 4.75 sin theta - (11 - 4.75 cos theta) cot phi

The noise sds are about 5 % of each effect's sd over the sampled angles (2.32 and 3.37).  The
deterministic parts lie in [3, 12.58] and [2.01, 19.61] (extremes at the corners of the angle
box), so with the bounded noise every sample lies in the declared ranges ``shadow_length`` in
[2.5, 13] and ``shadow_position`` in [1.5, 20]: the shadow's centre is always inside the image.
``do()`` values must lie in these ranges (closed intervals; angles in the boxes above).

Images (:func:`render_pendulum`, numpy only, vectorised over the batch) show the frame
x in [-1, 21], y in [-1.5, 20.5] on 1 x 64 x 64 pixels (0.34375 units per pixel), white (1.0)
background, with antialiased edges (coverage ``clip(0.5 - d / pixel, 0, 1)`` of each shape's
signed distance ``d``; for the shadow bar the product of its x and y coverages, exact for a box):
the light, a disc of radius 1.5 (intensity 0.65) at distance 8 from the pivot along
``(cos phi, sin phi)``; the shadow, a black bar on the ground ``y in [-1, 0]`` centred at
``shadow_position`` and ``shadow_length`` long, drawn from those factor values; the rod (black,
0.6 wide) and the bob (intensity 0.35).  The four shapes never overlap, so
``do(shadow_length = c)`` changes only shadow pixels.  Long shadows near the frame's edge are
cropped, as in the original.
"""

from __future__ import annotations

import networkx as nx
import numpy as np

from causalvae.argtypes import check_int
from causalvae.data.dataset import FactorDataset
from causalvae.data.scm import BoundedAdditive, SCMSampler, StructuralCausalModel, Uniform

NAME = "pendulum"
DEFAULT_N = 10_000
IMAGE_SIZE = 64
FACTOR_NAMES = ("pendulum_angle", "light_angle", "shadow_length", "shadow_position")

PENDULUM_ANGLE_RANGE = (-40 * np.pi / 200, 43 * np.pi / 200)
LIGHT_ANGLE_RANGE = (60 * np.pi / 200, 147 * np.pi / 200)
SHADOW_LENGTH_RANGE = (2.5, 13.0)
SHADOW_POSITION_RANGE = (1.5, 20.0)
SHADOW_LENGTH_NOISE = 0.12
SHADOW_POSITION_NOISE = 0.17

PIVOT = (10.0, 10.5)
ROD_LENGTH = 8.0
BOB_RADIUS = 1.5
GROUND_Y = -0.5
MIN_SHADOW_LENGTH = 3.0
LIGHT_DISTANCE = 8.0
LIGHT_RADIUS = 1.5
ROD_HALF_WIDTH = 0.3
SHADOW_HALF_HEIGHT = 0.5
FRAME_X = (-1.0, 21.0)
FRAME_Y = (-1.5, 20.5)
BACKGROUND, LIGHT, SHADOW, ROD, BOB = 1.0, 0.65, 0.0, 0.0, 0.35


def ground_shadow_x(x: np.ndarray | float, y: np.ndarray | float, light_angle: np.ndarray | float) -> np.ndarray:
    """Where the light ray through ``(x, y)`` meets the ground ``y = -0.5``: ``x - (y + 0.5) cot phi``.

    Examples
    --------
    >>> round(float(ground_shadow_x(3.0, 7.0, np.pi / 2)), 12)          # light from straight above
    3.0
    >>> round(float(ground_shadow_x(3.0, 0.5, np.pi / 4)), 12)          # 45 degrees: one unit up, one back
    2.0
    """
    phi = np.asarray(light_angle, dtype=np.float64)
    return np.asarray(x, dtype=np.float64) - (np.asarray(y, dtype=np.float64) - GROUND_Y) * np.cos(phi) / np.sin(phi)


def bob_centre(pendulum_angle: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
    """``(x, y)`` of the bob's centre: ``(10 + 8 sin theta, 10.5 - 8 cos theta)``."""
    theta = np.asarray(pendulum_angle, dtype=np.float64)
    return PIVOT[0] + ROD_LENGTH * np.sin(theta), PIVOT[1] - ROD_LENGTH * np.cos(theta)


def light_centre(light_angle: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
    """``(x, y)`` of the drawn light: 8 units from the pivot towards the light."""
    phi = np.asarray(light_angle, dtype=np.float64)
    return PIVOT[0] + LIGHT_DISTANCE * np.cos(phi), PIVOT[1] + LIGHT_DISTANCE * np.sin(phi)


def shadow_geometry(pendulum_angle: np.ndarray | float,
                    light_angle: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
    """Noise-free ``(shadow_length, shadow_position)``: ``max(3, |a - b|)`` and ``(a + b) / 2``.

    ``a`` and ``b`` are the shadows of the pivot and of the bob's far edge (9.5 from the pivot).

    Examples
    --------
    >>> length, position = shadow_geometry(0.0, np.pi / 2)   # hanging straight, light overhead
    >>> float(length), float(position)                        # |a - b| = 0: the floor of 3
    (3.0, 10.0)
    """
    theta = np.asarray(pendulum_angle, dtype=np.float64)
    reach = ROD_LENGTH + BOB_RADIUS
    a = ground_shadow_x(PIVOT[0], PIVOT[1], light_angle)
    b = ground_shadow_x(PIVOT[0] + reach * np.sin(theta), PIVOT[1] - reach * np.cos(theta), light_angle)
    return np.maximum(MIN_SHADOW_LENGTH, np.abs(a - b)), (a + b) / 2.0


def _shadow_length(pa: np.ndarray) -> np.ndarray:
    return shadow_geometry(pa[:, 0], pa[:, 1])[0]


def _shadow_position(pa: np.ndarray) -> np.ndarray:
    return shadow_geometry(pa[:, 0], pa[:, 1])[1]


def scm() -> StructuralCausalModel:
    """The structural equations of ``pendulum`` (see the module docstring)."""
    angles = ("pendulum_angle", "light_angle")
    return StructuralCausalModel({
        "pendulum_angle": Uniform(*PENDULUM_ANGLE_RANGE),
        "light_angle": Uniform(*LIGHT_ANGLE_RANGE),
        "shadow_length": BoundedAdditive(angles, _shadow_length, SHADOW_LENGTH_NOISE,
                                         low=SHADOW_LENGTH_RANGE[0], high=SHADOW_LENGTH_RANGE[1]),
        "shadow_position": BoundedAdditive(angles, _shadow_position, SHADOW_POSITION_NOISE,
                                           low=SHADOW_POSITION_RANGE[0], high=SHADOW_POSITION_RANGE[1]),
    })


def factor_dag() -> nx.DiGraph:
    """The generator's factor DAG."""
    return scm().dag(NAME)


def render_pendulum(pendulum_angle: np.ndarray, light_angle: np.ndarray, shadow_length: np.ndarray,
                    shadow_position: np.ndarray, *, size: int = IMAGE_SIZE) -> np.ndarray:
    """Rasterise scenes, one per row of the factor arrays (scalars broadcast), in one vectorised pass.

    Parameters
    ----------
    pendulum_angle, light_angle : angles in radians (any values are drawn; the SCM keeps them in range).
    shadow_length, shadow_position : the shadow bar's length and centre, in frame units.
    size : image side in pixels.

    Returns
    -------
    float32 array ``(n, size, size)`` in [0, 1].

    Examples
    --------
    >>> img = render_pendulum(np.zeros(2), np.full(2, np.pi / 2), [3.0, 6.0], [10.0, 10.0])
    >>> img.shape, img.dtype.name, bool(img.min() >= 0.0 and img.max() <= 1.0)
    ((2, 64, 64), 'float32', True)
    """
    params = [np.asarray(p, dtype=np.float64).reshape(-1)
              for p in (pendulum_angle, light_angle, shadow_length, shadow_position)]
    n = max(p.size for p in params)
    if any(p.size not in (1, n) for p in params):
        raise ValueError(f"pendulum parameters must have one common length or length 1, got lengths "
                         f"{[p.size for p in params]} for {list(FACTOR_NAMES)}")
    if not all(np.all(np.isfinite(p)) for p in params):
        raise ValueError(f"pendulum parameters must be finite, got non-finite values in "
                         f"{[name for name, p in zip(FACTOR_NAMES, params) if not np.all(np.isfinite(p))]}")
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
        raise ValueError(f"size must be a positive integer, got {size!r}")
    theta, phi, length, position = (np.broadcast_to(p, (n,)) for p in params)
    pixel = (FRAME_X[1] - FRAME_X[0]) / size
    steps = (np.arange(size, dtype=np.float64) + 0.5) * pixel
    x = (FRAME_X[0] + steps).astype(np.float32)[None, None, :]     # (1, 1, W)
    y = (FRAME_Y[1] - steps).astype(np.float32)[None, :, None]     # (1, H, 1), y up

    def col(v: np.ndarray) -> np.ndarray:
        return v.astype(np.float32)[:, None, None]

    def coverage(distance: np.ndarray) -> np.ndarray:   # a pixel's share inside a shape, from its signed distance
        return np.clip(0.5 - distance * np.float32(1.0 / pixel), 0.0, 1.0)

    image = np.full((n, size, size), BACKGROUND, dtype=np.float32)
    lx, ly = light_centre(phi)
    _paint(image, coverage(np.hypot(x - col(lx), y - col(ly)) - LIGHT_RADIUS), LIGHT)
    # the bar's coverage is separable (exact area for an axis-aligned box wider than a pixel)
    _paint(image, coverage(np.abs(x - col(position)) - col(length / 2.0))
           * coverage(np.abs(y - GROUND_Y) - SHADOW_HALF_HEIGHT), SHADOW)
    bx, by = bob_centre(theta)
    _paint(image, coverage(_segment_distance(x - PIVOT[0], y - PIVOT[1], col(bx - PIVOT[0]), col(by - PIVOT[1]))
                           - ROD_HALF_WIDTH), ROD)
    _paint(image, coverage(np.hypot(x - col(bx), y - col(by)) - BOB_RADIUS), BOB)
    return image


def _paint(image: np.ndarray, coverage: np.ndarray, value: float) -> None:
    """Blend ``value`` into ``image`` (in place) with per-pixel ``coverage`` in [0, 1]."""
    image += coverage * (np.float32(value) - image)


def _segment_distance(px: np.ndarray, py: np.ndarray, bx: np.ndarray, by: np.ndarray) -> np.ndarray:
    """Distance from ``(px, py)`` to the segment from the origin to ``(bx, by)`` (non-zero length)."""
    t = np.clip((px * bx + py * by) / (bx * bx + by * by), 0.0, 1.0)
    return np.hypot(px - t * bx, py - t * by)


def observe(factors: np.ndarray) -> np.ndarray:
    """Images ``(n, 1, 64, 64)`` of factor rows laid out as :data:`FACTOR_NAMES`."""
    factors = np.asarray(factors, dtype=np.float64)
    if factors.ndim != 2 or factors.shape[1] != len(FACTOR_NAMES):
        raise ValueError(f"factors must have shape (n, {len(FACTOR_NAMES)}) ({list(FACTOR_NAMES)}), "
                         f"got {factors.shape}")
    return render_pendulum(*factors.T)[:, None]


def sampler() -> SCMSampler:
    """The ``pendulum`` generator (sampling, ``do``, rendering)."""
    from causalvae.data.factor_dags import reference_dag

    return SCMSampler(name=NAME, scm=scm(), observe=observe, obs_shape=(1, IMAGE_SIZE, IMAGE_SIZE),
                      factor_dag=reference_dag(NAME, build=factor_dag),
                      meta={"source": "scm", "options": {}, "units": "radians; shadow in frame units"})


def load(*, n: int | None = None, seed: int = 0) -> FactorDataset:
    """``n`` observational samples (default 10,000) drawn by ``seed``; images rendered on access.

    Examples
    --------
    >>> ds = load(n=3)
    >>> ds.x.shape, ds.factor_names
    ((3, 1, 64, 64), ('pendulum_angle', 'light_angle', 'shadow_length', 'shadow_position'))
    """
    return sampler()(check_int(DEFAULT_N if n is None else n, name="n", minimum=1), seed=seed)

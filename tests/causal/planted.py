"""A planted linear network (numpy) wired to known factors, and its exact effect matrices."""

import numpy as np

from causalvae.effects import EffectMatrix
from causalvae.units import factor_id, unit_ids

FACTORS = ["a", "b", "c"]
ENC = unit_ids("encoder.h", 6)
LAT = unit_ids("latent.mu", 3)
# factor -> encoder weights (rows factors a, b, c; columns h0..h5): h0, h1 detect a, h2 detects b,
# h3 detects c, h4 is polysemantic (a and c), h5 is dead
W_IN = np.array([[1.0, 1.0, 0, 0, 0.5, 0],
                 [0, 0, 1.0, 0, 0, 0],
                 [0, 0, 0, 1.0, 0.4, 0]])
# encoder -> latent: h0, h1 -> mu0 (parallel paths), h1 -> mu1 (cross edge: implements a -> b),
# h2 -> mu1, h3, h4 -> mu2
W_ENC = np.zeros((6, 3))
W_ENC[0, 0] = W_ENC[1, 0] = 1.0
W_ENC[1, 1] = 0.3
W_ENC[2, 1] = 1.0
W_ENC[3, 2] = 1.0
W_ENC[4, 2] = 0.5
W_OUT = np.eye(3)  # mu_k -> read-out of factor k

CLASSES = {"encoder.h[0]": ("monosemantic", "a"), "encoder.h[1]": ("monosemantic", "a"),
           "encoder.h[2]": ("monosemantic", "b"), "encoder.h[3]": ("monosemantic", "c"),
           "encoder.h[4]": ("polysemantic", "a"), "encoder.h[5]": ("dead", ""),
           "latent.mu[0]": ("monosemantic", "a"), "latent.mu[1]": ("monosemantic", "b"),
           "latent.mu[2]": ("monosemantic", "c")}
MOTIF_COUNTS = {("detector", 1): 4, ("detector", 2): 1, ("convergent", 1): 1, ("convergent", 2): 2,
                ("divergent", 1): 1, ("bottleneck", 1): 2, ("bottleneck", 2): 3, ("parallel", 0): 2}


STAGES = {"encoder.h": "encoder", "latent.mu": "latent"}


def matrices(*, stderr=0.01):
    """Exact effect matrices (linear network: effect = weight, response = path sum) with the stderr of a
    mean of 4 replicates, standardised (effects in units of the target's spread)."""
    fids = [factor_id(f) for f in FACTORS]
    se = lambda a: np.full(a.shape, stderr)  # noqa: E731
    mk = lambda v, s, t, what: EffectMatrix(v, s, t, intervention=what, statistic="mean", n_samples=64,  # noqa: E731
                                            stderr=se(v), meta={"replicates": 4, "standardised": True})
    responses = mk(np.hstack([W_IN, W_IN @ W_ENC]), fids, ENC + LAT, "factor-pair")
    edges = mk(W_ENC, ENC, LAT, "zero-ablation")
    readout = mk(W_OUT, LAT, fids, "do(z=c)")
    return responses, edges, readout

"""End to end: a beta-VAE trained on procedural dSprites has a higher MIG than a random encoder."""

import numpy as np
import pytest


@pytest.mark.slow
def test_trained_beta_vae_beats_random_encoder_on_mig():
    from causalvae.data import load
    from causalvae.metrics import CodeCache, mig
    from causalvae.models import encode_dataset, make_vae, train

    grid = load("dsprites")
    f, names = grid.factors, grid.factor_names
    shape, scale, orientation = (f[:, names.index(n)] for n in ("shape", "scale", "orientation"))
    fixed = (shape == shape.min()) & (orientation == orientation.min()) & (scale == scale.max())
    data = grid.subset(np.flatnonzero(fixed))  # the 32 x 32 positions of one large square
    x = data.images().reshape(len(data), -1)
    position = data.factors[:, [names.index("posX"), names.index("posY")]]

    def vae():
        return make_vae("beta-vae", input_shape=(x.shape[1],), latent_dim=4, hidden=(128, 32), seed=0,
                        likelihood="bernoulli", beta=4.0)

    def score(model):
        cache = CodeCache(position, observations=x, represent=lambda batch: encode_dataset(model, batch)[0])
        return mig(cache.codes(np.arange(len(x))), position)["mig"]

    random_mig = score(vae())
    trained = vae()
    train(trained, x, steps=50, lr=2e-3, seed=0, progress=False)
    trained_mig = score(trained)
    assert trained_mig > max(2 * random_mig, random_mig + 0.03), (trained_mig, random_mig)

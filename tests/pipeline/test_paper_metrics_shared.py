"""``causalvae run`` and the examples compute CES and specificity through one library call."""

from pathlib import Path
from types import SimpleNamespace

import numpy as np

from causalvae import interventions, models
from causalvae.pipeline import effect_stages

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


class _Ctx(SimpleNamespace):
    def metric(self, key, value):
        self.metrics[key] = float(value)


def test_pipeline_stage_reports_exactly_the_library_numbers():
    model = models.make_vae("beta-vae", input_shape=(6,), latent_dim=3, hidden=(5,), seed=1).eval()
    x = np.random.default_rng(0).normal(size=(16, 6)).astype(np.float32)
    kl = np.array([0.5, 0.0, 2.0])
    ctx = _Ctx(config=SimpleNamespace(device="cpu"), model=model, x_analysis=x, effects={"latent_information": kl},
               metrics={"recon.nll": 3.0})
    effect_stages.latent_perturbation(ctx)
    ces, spec, _ = interventions.paper_metrics(model, x, kl=kl, recon_error=3.0)
    for name in ("paper", "active_only", "sqrt_p_normalised", "calibrated"):
        assert ctx.metrics[f"ces.{name}"] == getattr(ces, name)
    active = kl > 0.01
    assert ctx.metrics["specificity.paper"] == np.mean(spec.paper[active])
    assert ctx.metrics["specificity.bounded"] == np.mean(spec.bounded[active])


def test_vq_stage_reports_the_code_swap_numbers():
    """A VQ-VAE's stage reports CES and specificity of the code swaps, active positions by code entropy."""
    model = models.make_vae("vq-vae", input_shape=(6,), latent_dim=3, hidden=(5,), codebook_size=4, code_dim=2,
                            seed=1).eval()
    x = np.random.default_rng(0).normal(size=(16, 6)).astype(np.float32)
    entropy = models.code_entropy(model, x)
    ctx = _Ctx(config=SimpleNamespace(device="cpu"), model=model, x_analysis=x,
               effects={"latent_information": entropy}, metrics={"recon.nll": 3.0})
    effect_stages.latent_perturbation(ctx)
    profile = interventions.code_swap_profile(model, x)
    ces = profile.ces(information=entropy, recon_error=3.0)
    assert ctx.metrics["ces.paper"] == ces.paper and "ces.calibrated" not in ctx.metrics
    assert ctx.effects["ces_per_latent"].intervention == "do(code=j)"
    assert ctx.effects["latent_decoder"].sources == tuple(f"latent.code[{i}]" for i in range(3))
    np.testing.assert_array_equal(ctx.effects["ces_per_latent"].values[:, 0], profile.distance)


def test_the_examples_use_the_same_call():
    for script in ("dsprites_end_to_end.py",):
        source = (EXAMPLES / script).read_text(encoding="utf-8")
        assert "interventions.paper_metrics(" in source, f"{script} computes CES or specificity its own way"
        assert "latent_output_profiles" not in source and '"output_l2"' not in source

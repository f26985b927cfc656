"""The causal layer consumes what the (torch) intervention helper produces."""

import numpy as np
import pytest

from causalvae.causal import mediation

torch = pytest.importorskip("torch")


def test_mediation_on_mediation_outcomes_of_a_linear_torch_model():
    from torch import nn

    from causalvae.interventions import mediation_outcomes

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.enc = nn.Linear(2, 3)
            self.out = nn.Linear(3, 1)

        def forward(self, x):
            return self.out(self.enc(x))

    torch.manual_seed(0)
    net = Net()
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 2)).astype(np.float32)
    x_prime = x + np.array([1.0, 0.0], dtype=np.float32)
    outs = {m: mediation_outcomes(net, x, x_prime, mediators=list(m), outcome="out[0]")
            for m in (("enc[0]",), ("enc[0]", "enc[1]"))}
    df = mediation(outs, n_boot=50).set_index(["mediator", "estimand"])["estimate"]
    w_enc, w_out = net.enc.weight.detach().double().numpy(), net.out.weight.detach().double().numpy()
    assert df["enc[0]", "TE"] == pytest.approx((w_out @ w_enc)[0, 0], abs=1e-5)
    assert df["enc[0]", "NIE"] == pytest.approx(w_out[0, 0] * w_enc[0, 0], abs=1e-5)
    assert df["enc[0]+enc[1]", "NDE"] == pytest.approx(w_out[0, 2] * w_enc[2, 0], abs=1e-5)

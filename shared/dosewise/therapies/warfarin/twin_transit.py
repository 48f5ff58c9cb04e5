"""Exact one-sub-step maps of the linear pieces the warfarin twin models share: first-order absorption into one compartment,
and chains of identical transit compartments driven by an input that is linear over the sub-step (first-order hold).

The twin models (twin_hamberg2010.py, twin_kpd.py) are linear in their states except for the Emax link u = 1 − E(C), so a day
is a few sub-steps, each applying these maps exactly; the only approximation is the linear interpolation of u within a
sub-step (as model.DayPropagator does for Hamberg 2007; accuracy against ``scipy.integrate.solve_ivp`` is tested).

Chain of m compartments, each with rate k, input u(t): dA_1/dt = k(u − A_1), dA_i/dt = k(A_{i−1} − A_i). Over h, compartment
i receives from compartment j ≤ i the Poisson share c_{i−j} = e^{−kh}(kh)^{i−j}/(i−j)!, and from an input rising linearly from
u0 to u1 the weights w0·u0 + w1·u1 with w0 = i·P_{i+1}/(kh), w1 = P_i − w0, P_i the Gamma(i, k) CDF at h (the regularized
lower incomplete gamma function; the derivation is model._chain_input_weights').
"""

from __future__ import annotations

from dataclasses import dataclass
from math import factorial

import numpy as np
from scipy.special import gammainc

from dosewise.therapies.base import FloatArray

# Sub-steps (hours) of a day after the morning dose, short where absorption (ka = 2/h) moves C fast: model.py's choice.
DEFAULT_SUBSTEPS_H: tuple[float, ...] = (0.25, 0.75, 2.0, 5.0, 8.0, 8.0)


@dataclass(frozen=True)
class ChainStep:
    """The exact map of an m-compartment chain over one sub-step, for n patients: ``poisson`` (m, m, n) lower triangular,
    ``w0``/``w1`` (m, n) the weights of the input at the sub-step's start and end."""

    poisson: FloatArray
    w0: FloatArray
    w1: FloatArray

    def apply(self, chain: FloatArray, u0: FloatArray, u1: FloatArray) -> FloatArray:
        """The chain (m, n) after the sub-step, for an input going linearly from ``u0`` to ``u1`` (n,)."""
        return np.einsum("ijn,jn->in", self.poisson, chain) + self.w0 * u0 + self.w1 * u1


def chain_step(k_per_h: FloatArray, h: float, m: int) -> ChainStep:
    """The map of ``m`` identical compartments of rate ``k_per_h`` (n,) over ``h`` hours."""
    kh = np.asarray(k_per_h, dtype=float) * h
    n = kh.shape[0]
    decay = np.exp(-kh)
    poisson = np.zeros((m, m, n))
    for i in range(m):
        for j in range(i + 1):
            poisson[i, j] = decay * kh ** (i - j) / factorial(i - j)
    i = np.arange(1, m + 1)[:, None]
    p_i = gammainc(i, kh[None, :])
    w0 = i * gammainc(i + 1, kh[None, :]) / kh[None, :]
    return ChainStep(poisson=poisson, w0=w0, w1=p_i - w0)


@dataclass(frozen=True)
class AbsorptionStep:
    """Exact map of gut --ka--> central --ke--> over one sub-step (amounts): central' = ``cc``·central + ``gc``·gut,
    gut' = ``gg``·gut; each (n,)."""

    gg: FloatArray
    gc: FloatArray
    cc: FloatArray


def absorption_step(ka_per_h: FloatArray, ke_per_h: FloatArray, h: float) -> AbsorptionStep:
    """The map over ``h`` hours (ka ≠ ke; where they are within 1e-9 the limit h·ka·e^{−ka h} is used)."""
    ka = np.asarray(ka_per_h, dtype=float)
    ke = np.asarray(ke_per_h, dtype=float)
    eka, eke = np.exp(-ka * h), np.exp(-ke * h)
    diff = ka - ke
    close = np.abs(diff) < 1e-9
    gc = np.where(close, h * ka * eka, ka * (eke - eka) / np.where(close, 1.0, diff))
    return AbsorptionStep(gg=np.broadcast_to(eka, ke.shape).copy(), gc=gc, cc=eke)

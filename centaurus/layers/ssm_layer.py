"""`SSMLayer`: the Centaurus layer in four channel-connectivity modes, used like `nn.Conv1d` (spec §3).

All modes are banks of diagonal complex one-pole systems x_t = p ⊙ x_{t−1} + β ⊙ drive_t, read out with
real (optionally complex) weights:

    dws   poles (C, N)     drive u[c]            z[c] = Re Σ_n E[c,n] x[c,n]      then the mixer (1×1 conv)
    full  poles (D, C, N)  drive u[c]            y[d] = Re Σ_{c,n} E[d,c,n] x[d,c,n]
    s5    poles (M, 1)     drive (B u)[m]        y[d] = Re Σ_m C[d,m] x[m]          M = J·N
    neck  poles (J, N)     drive (B u)[j]        y[d] = Σ_j C[d,j] Re Σ_n E[j,n] x[j,n]

s5 and neck share the bottleneck form (W_in, W_out, per-channel weights) of `centaurus.ssm.contraction`.
"""
import contextlib
import math
from typing import NamedTuple

import torch
from torch import nn

from .. import ssm
from .._lazy import compile_disabled
from .blocks import TIME_NORMS, PointwiseConv1d, act_block
from .chunk_plan import (
    ChunkPlan,
    FullChunkPlan,
    PlanOperands,
    build_plan,
    plan_from_operands,
    plan_operands,
    plan_size,
    run_plan,
)
from .streaming import StreamingModule

MODES = ("dws", "s5", "neck", "full")
_PLAN_LIMIT = 2**24  # entries of the largest tensor of a cached chunk plan
_SPECTRUM_LIMIT = 2**22  # complex entries of a cached kernel spectrum
_CACHED_LENGTHS = 8  # kernels and chunk plans kept per layer (a stream uses one or two lengths)
DT_INITS = ("geomspace", "geomspace-modes", "log-uniform")
PROJECTION_INITS = ("reference", "random")


class Operands(NamedTuple):
    """Discretised operands of one forward pass, in pole shape P (see the module docstring)."""

    log_pole: torch.Tensor          # complex P
    beta: torch.Tensor              # complex P (input factor)
    readout: torch.Tensor           # complex P: E for dws/full/neck, ones for s5
    w_in: torch.Tensor | None       # real (M, C), bottleneck modes only
    w_out: torch.Tensor | None      # real or complex (D, M), bottleneck modes only


class SSMLayer(StreamingModule):
    """Deep SSM layer mapping (B, C, L) → (B, D, L), causal, streamable at any chunk size.

    Args:
        num_states: N, complex modes per filter.
        in_channels, out_channels: C and D.
        mode: 'dws', 's5', 'neck' or 'full'.
        state_blocks: J for s5/neck (default 1, the reference default).
        init: pole initialisation, one of `ssm.POLE_INITS`.
        discretization: 'simplified' (reference), 'zoh' or 'bilinear'.
        dt_min, dt_max, dt_init: Δ range and its spread: 'geomspace' over the axis of spec §3.2
            (reference), 'geomspace-modes' over every entry of log_dt, or 'log-uniform' (random).
        rate: f_train / f_run; Δ is multiplied by it (2 runs a 16 kHz model at 8 kHz).
        skip: add a D skip term y += D_skip·u (zero-initialised, so the output starts as the reference).
        complex_readout: add imaginary readout weights (zero-initialised) so the sine components are reachable.
        use_activations, norm, postact, dropout: the post-SSM act block (spec §3.1).
        mixer_act: dws only, whether act(C) precedes the 1×1 conv (reference: always).
        projection_init: 'reference' sets B (and E of dws/full) to constants, as the reference does; then
            every bottleneck mode sees only the channel sum until training breaks the symmetry. 'random'
            draws them from 𝒩(0, 1/fan-in) instead.
        generator: torch.Generator for the random initial values (default: torch's global RNG).
    """

    def __init__(self, num_states: int, in_channels: int, out_channels: int, *, mode: str = "s5",
                 state_blocks: int | None = None, init: str = "s4d-lin", discretization: str = "simplified",
                 dt_min: float = 1e-3, dt_max: float = 1e-1, dt_init: str = "geomspace", rate: float = 1.0,
                 skip: bool = False, complex_readout: bool = False, use_activations: bool = False,
                 norm: str | None = "batch", postact: str | None = "relu", dropout: float | None = None,
                 mixer_act: bool = True, projection_init: str = "reference",
                 generator: torch.Generator | None = None):
        super().__init__()
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        if discretization not in ssm.DISCRETIZATIONS:
            raise ValueError(f"discretization must be one of {ssm.DISCRETIZATIONS}, got {discretization!r}")
        if dt_init not in DT_INITS:
            raise ValueError(f"dt_init must be one of {DT_INITS}, got {dt_init!r}")
        if projection_init not in PROJECTION_INITS:
            raise ValueError(f"projection_init must be one of {PROJECTION_INITS}, got {projection_init!r}")
        if min(num_states, in_channels, out_channels, state_blocks or 1) < 1 or rate <= 0:
            raise ValueError("num_states, channels and state_blocks must be ≥ 1, and rate > 0")
        self.mode, self.discretization, self.rate = mode, discretization, float(rate)
        self.num_states, self.in_channels, self.out_channels = num_states, in_channels, out_channels
        self.state_blocks = state_blocks or 1
        self.complex_readout = complex_readout
        self._init_parameters(init, dt_min, dt_max, dt_init, skip, projection_init == "random", generator)
        act = dict(norm=norm, postact=postact, dropout=dropout)
        tail = [act_block(out_channels, **act)] if use_activations else []
        if mode == "dws":
            head = [act_block(in_channels, **act)] if mixer_act else []
            self.mixer = nn.Sequential(*head, PointwiseConv1d(in_channels, out_channels), *tail)
        else:
            self.mixer = tail[0] if tail else nn.Identity()
        self._cache: dict = {}
        self._pinned_key = None  # set by `exporting` while a tracer swaps the parameters' storage
        self._exported = False   # set by `exporting`: the traced graph builds its chunk plans from buffers

    # ----------------------------------------------------------------------------------------- parameters
    def _init_parameters(self, init, dt_min, dt_max, dt_init, skip, random_projections, generator):
        N, C, D, J = self.num_states, self.in_channels, self.out_channels, self.state_blocks
        base = ssm.poles_to_A(ssm.init_poles(init, N, generator=generator))           # (N, 2)
        dt_axis, a_shape, dt_shape = {
            "dws": (C, (C, N), (C, N)), "full": (D, (D, C, N), (D, N)),
            "s5": (J, (J, N), (J * N,)), "neck": (J, (J, N), (J,)),
        }[self.mode]
        count = math.prod(dt_shape) if dt_init == "geomspace-modes" else dt_axis
        if dt_init == "log-uniform":
            dt = ssm.log_uniform_dt(count, dt_min, dt_max, generator=generator)
        else:
            dt = ssm.geomspace_dt(count, dt_min, dt_max)
        if dt_init != "geomspace-modes":  # tile the per-axis Δ over the remaining axes of log_dt
            dt = dt.repeat_interleave(math.prod(dt_shape) // dt_axis)
        A = base.float().expand(*a_shape, 2)
        self.A = nn.Parameter(A.reshape(-1, 2) if self.mode == "s5" else A.clone())     # spec §3.2 shapes
        self.log_dt = nn.Parameter(torch.log(dt).float().reshape(dt_shape))
        for p in (self.A, self.log_dt):
            p.ssm_dynamics = True  # read by `param_groups`: own learning rate, no weight decay

        def randn(*shape, std):
            return torch.randn(*shape, generator=generator) * std

        def projection(*shape, std):  # the reference's constant, or a random draw of the same scale
            return randn(*shape, std=std) if random_projections else torch.full(shape, std)

        M = J * N
        if self.mode == "dws":
            self.E = nn.Parameter(projection(C, N, std=N ** -0.5))
        elif self.mode == "full":
            self.E = nn.Parameter(projection(D, C, N, std=C ** -0.5))
        elif self.mode == "s5":
            self.B = nn.Parameter(projection(M, C, std=C ** -0.5))
            self.C = nn.Parameter(randn(D, M, std=math.sqrt(2 / M)))
        else:
            self.B = nn.Parameter(projection(J, C, std=C ** -0.5))
            self.C = nn.Parameter(randn(D, J, std=math.sqrt(2 / M)))  # reference fan-in J·N
            self.E = nn.Parameter(randn(J, N, std=math.sqrt(2)))
        if self.complex_readout:
            real = self.C if self.mode == "s5" else self.E
            self.readout_imag = nn.Parameter(torch.zeros_like(real))
        if skip:
            self.D_skip = nn.Parameter(torch.zeros(C) if self.mode == "dws" else torch.zeros(D, C))
        else:
            self.D_skip = None

    # ----------------------------------------------------------------------------------------- operands
    def _version_key(self, device):
        """Changes whenever a cached operand could: any in-place update, a new tensor, a cast, a move, a rate."""
        if self._pinned_key is not None:
            return self._pinned_key
        params = tuple((id(p), p.data_ptr(), p._version, p.dtype) for p in self._parameters.values() if p is not None)
        return params, device, self.rate

    def operands(self) -> Operands:
        """Discretise the current parameters in fp32 (fp64 for a double layer), autocast off."""
        key = ("operands", self._version_key(self.A.device))
        cached = self._cache.get(key) if not torch.is_grad_enabled() else None
        if cached is not None:
            return cached
        with torch.autocast(self.A.device.type, enabled=False):
            poles = ssm.continuous_poles(self.A)
            dt = self.rate * torch.exp(self.log_dt)
            if self.mode == "s5":
                poles, dt = poles[:, None], dt[:, None]                               # (M, 1)
            elif self.mode == "full":
                dt = dt[:, None, :]                                                   # (D, 1, N)
            elif self.mode == "neck":
                dt = dt[:, None]                                                      # (J, 1)
            log_pole, beta = ssm.discretize(poles, dt, method=self.discretization)
            readout = self.C if self.mode == "s5" else self.E
            if self.complex_readout:
                readout = torch.complex(readout, self.readout_imag)
            if self.mode in ("dws", "full"):
                ops = Operands(log_pole, beta, readout.to(log_pole.dtype), None, None)
            elif self.mode == "s5":
                ops = Operands(log_pole, beta, torch.ones_like(log_pole), self.B, readout)
            else:
                ops = Operands(log_pole, beta, readout.to(log_pole.dtype), self.B, self.C)
        if not torch.is_grad_enabled():
            self._cache = {key: ops}
        return ops

    @compile_disabled  # a cached host-side choice, not something to trace
    def contraction_plan(self, batch: int, length: int) -> ssm.ContractionPlan | None:
        """The order the bottleneck modes use for this shape (None for dws/full, which have one path)."""
        if self.mode in ("dws", "full"):
            return None
        channels, states = (self.state_blocks * self.num_states, 1) if self.mode == "s5" \
            else (self.state_blocks, self.num_states)
        return ssm.choose_contraction(batch, self.in_channels, self.out_channels, channels, states, length,
                                      self.complex_readout and self.mode == "s5")

    def _kernels(self, ops: Operands, plan, length: int):
        """Zero-state kernel operands for `length` taps; cached while the parameters are unchanged."""
        key = ("kernels", length, plan and (plan.order, plan.chunk), self._version_key(ops.log_pole.device))
        if not torch.is_grad_enabled() and key in self._cache:
            return self._cache[key]
        if plan is None:
            kernels = ssm.power_sum(ops.readout * ops.beta, ops.log_pole, length)       # (C|D,C, L)
        else:
            kernels = ssm.bottleneck_kernels(w_in=ops.w_in, w_out=ops.w_out, weight=ops.readout * ops.beta,
                                             log_pole=ops.log_pole, length=length, order=plan.order,
                                             chunk=plan.chunk)
        if not torch.is_grad_enabled():
            self._remember(key, kernels)
        return kernels

    def _kernel_spectrum(self, ops: Operands, length: int) -> torch.Tensor | None:
        """dws/full in inference: the kernels' spectrum for `length`, cached, so repeated inputs of one length
        (a keyword spotter's windows) skip the kernel FFTs, which cost more than the convolution itself.
        None while training, or when the spectrum would be too large to keep."""
        if torch.is_grad_enabled() or ops.log_pole.shape[:-1].numel() * (length + 1) > _SPECTRUM_LIMIT:
            return None
        key = ("spectrum", length, self._version_key(ops.log_pole.device))
        if key not in self._cache:
            self._remember(key, ssm.kernel_spectrum(self._kernels(ops, None, length), length))
        return self._cache[key]

    def _remember(self, key, value) -> None:
        """Cache a per-length entry, keeping only the most recent few: evaluation over many lengths must not
        grow memory without bound."""
        self._cache[key] = value
        lengths = [k for k in self._cache if k[0] != "operands"]
        for stale in lengths[:-_CACHED_LENGTHS]:
            del self._cache[stale]

    # ----------------------------------------------------------------------------------------- forward
    def _zero_state(self, u: torch.Tensor, ops: Operands) -> torch.Tensor:
        plan = self.contraction_plan(u.shape[0], u.shape[-1])
        spectrum = self._kernel_spectrum(ops, u.shape[-1]) if plan is None else None
        if spectrum is not None:
            y = ssm.spectrum_conv(u, spectrum)
        elif self.mode == "full":
            y = ssm.power_sum_conv(u, ops.readout * ops.beta, ops.log_pole)
        else:
            kernels = self._kernels(ops, plan, u.shape[-1])
            y = ssm.fft_conv(u, kernels) if plan is None else ssm.bottleneck_apply(u, kernels, plan)
        if self.D_skip is not None:
            y = y + (self.D_skip[:, None] * u if self.mode == "dws"
                     else torch.einsum("dc,bcl->bdl", self.D_skip, u))
        return y

    # The SSM core runs eagerly under torch.compile: it is complex arithmetic, for which inductor has no
    # code generation, and its cost is in FFTs and matrix products anyway. The mixer around it compiles.
    @compile_disabled
    def _core_full(self, u: torch.Tensor) -> torch.Tensor:
        return self._zero_state(u, self.operands()).to(u.dtype)

    def forward_full(self, u: torch.Tensor) -> torch.Tensor:
        """u: (B, C, L) → y: (B, D, L), from a zero state."""
        return self.mixer(self._core_full(u))

    def init_state(self, batch_size: int, *, device=None, dtype=None) -> torch.Tensor:
        """Zero state: complex (B, *P) — dws (B, C, N), full (B, D, C, N), s5 (B, J·N, 1), neck (B, J, N)."""
        cplx = torch.complex128 if self.A.dtype == torch.float64 else torch.complex64
        shape = (self.A.shape[0], 1) if self.mode == "s5" else self.A.shape[:-1]
        return torch.zeros(batch_size, *shape, dtype=cplx, device=device or self.A.device)

    def _drive(self, u: torch.Tensor, ops: Operands) -> torch.Tensor:
        """What feeds each pole, broadcastable against P: (B, C, L) | (B, 1, C, L) | (B, M, L)."""
        if self.mode == "dws":
            return u
        if self.mode == "full":
            return u[:, None]
        return torch.einsum("mc,bcl->bml", ops.w_in.to(u.dtype), u)

    def _state_weight(self, state: torch.Tensor, ops: Operands):
        """Readout weight of the carried state, flattened with its poles for one power sum."""
        if self.mode == "dws":
            return ops.readout * state, ops.log_pole                                       # (B, C, N)
        if self.mode == "full":
            return (ops.readout * state).flatten(-2), ops.log_pole.flatten(-2)             # (B, D, C·N)
        weight = ops.w_out.to(state.dtype)[:, :, None] * ops.readout                       # (D, M, N')
        return (weight * state[:, None]).flatten(-2), ops.log_pole.flatten()               # (B, D, M·N')

    def forward_chunk(self, u: torch.Tensor, state: torch.Tensor):
        """Next chunk u: (B, C, T) of a stream in `state` → (y: (B, D, T), new state). Exact for any T."""
        if u.shape[-1] == 0:
            return u.new_zeros(u.shape[0], self.out_channels, 0), state
        y, state = self._core_chunk(u, state)
        return self.mixer(y), state

    @compile_disabled
    def _core_chunk(self, u: torch.Tensor, state: torch.Tensor):
        T = int(u.shape[-1])  # a plain int even under tracing, where shapes become tensors
        real_state = not state.is_complex()  # (…, 2) pairs: the form exported graphs carry
        plan = self._chunk_plan(T)
        with _autocast_off(u.device.type):
            if plan is not None:
                pairs = state if real_state else torch.view_as_real(state)
                y, pairs = run_plan(plan, u.to(pairs.dtype), pairs)
                return y.to(u.dtype), pairs if real_state else torch.view_as_complex(pairs)
            ops = self.operands()
            state = torch.view_as_complex(state.contiguous()) if real_state else state
            y = self._zero_state(u, ops)  # long chunks: FFT and blocked power sums, no (…, N, T) tensors
            weight, log_pole = self._state_weight(state, ops)
            y = y + ssm.power_sum(weight, log_pole, T, shift=1)
            driven = ssm.decayed_sum(self._drive(u, ops), ops.log_pole)
            decay = ssm.powers(ops.log_pole, torch.tensor([T], device=u.device))[..., 0]    # p^T, phase exact
            new_state = decay * state + ops.beta * driven
        return y.to(u.dtype), torch.view_as_real(new_state) if real_state else new_state

    def _chunk_plan(self, length: int) -> ChunkPlan | FullChunkPlan | None:
        """The real-arithmetic plan for chunks of `length`, cached; None while training or when too large.
        Looked up before the operands, so a warm chunk costs one cache-key check."""
        if torch.is_grad_enabled():
            return None
        if self._exported:
            if plan_size(self.mode, self.operands(), length=length) > _PLAN_LIMIT:
                return None
            return plan_from_operands(self.mode, PlanOperands(
                self.plan_log_pole, self.plan_beta, self.plan_readout, *self._plan_projections), length=length)
        key = ("plan", length, self._version_key(self.A.device))
        if key not in self._cache:
            ops = self.operands()
            small = plan_size(self.mode, ops, length=length) <= _PLAN_LIMIT
            self._remember(key, build_plan(self.mode, ops, length=length, skip=self.D_skip) if small else None)
        return self._cache[key]

    def step(self, u_t: torch.Tensor, state: torch.Tensor):
        """One sample: u_t (B, C) → (y_t (B, D), new state). Equal to forward over a sequence."""
        z, state = self._core_step(u_t, state)
        return self.mixer(z[..., None].to(u_t.dtype))[..., 0], state

    @compile_disabled
    def _core_step(self, u_t: torch.Tensor, state: torch.Tensor):
        ops = self.operands()
        drive = self._drive(u_t[..., None], ops)[..., 0].to(ops.log_pole.dtype)
        state = torch.exp(ops.log_pole) * state + ops.beta * drive[..., None]
        if self.mode == "dws":
            z = (ops.readout * state).sum(-1).real                                        # (B, C)
        elif self.mode == "full":
            z = (ops.readout * state).sum((-2, -1)).real                                  # (B, D)
        else:
            z = torch.einsum("dm,bm->bd", ops.w_out.to(state.dtype), (ops.readout * state).sum(-1)).real
        if self.D_skip is not None:
            z = z + (self.D_skip * u_t if self.mode == "dws" else u_t @ self.D_skip.T)
        return z, state

    def set_run_mode(self, mode: str) -> None:
        if mode == "inference":
            for m in self.mixer.modules():
                if isinstance(m, (nn.GroupNorm, nn.InstanceNorm1d)):
                    raise ValueError(f"norm {TIME_NORMS} uses statistics over time and cannot stream; "
                                     "use 'batch', 'layer' or 'rms'")
        self._cache = {}
        super().set_run_mode(mode)

    def extra_repr(self) -> str:
        return (f"{self.num_states}, {self.in_channels}, {self.out_channels}, mode={self.mode!r}, "
                f"state_blocks={self.state_blocks}, discretization={self.discretization!r}, rate={self.rate}")


def _autocast_off(device_type: str):
    """A context with autocast off; a no-op one when it is off already (entering autocast costs ~7 µs)."""
    if torch.is_autocast_enabled(device_type):
        return torch.autocast(device_type, enabled=False)
    return contextlib.nullcontext()


@contextlib.contextmanager
def exporting(model: nn.Module):
    """Trace `model` (e.g. for ONNX export) with every SSMLayer building its chunk plans inside the graph.

    A plan is up to (T/b + 1)·T numbers per pole, the operands it comes from a few: the layers hold those as
    buffers while the block runs, which a tracer records as the graph's weights, and an ONNX runtime builds
    the plans from them once, when it loads the graph (constant folding). Tracers also hand the module
    stand-ins for its parameters, which would look like new weights to the cache keys; the weights cannot
    change inside the block, so the keys are pinned to their values on entry.
    """
    layers = [m for m in model.modules() if isinstance(m, SSMLayer)]
    for layer in layers:
        layer._pinned_key = layer._version_key(layer.A.device)
        with torch.no_grad():
            ops = plan_operands(layer.mode, layer.operands(), skip=layer.D_skip)
        for name, value in zip(("plan_log_pole", "plan_beta", "plan_readout"), ops[:3]):
            layer.register_buffer(name, value)
        layer._plan_projections, layer._exported = ops[3:], True
    try:
        yield model
    finally:
        for layer in layers:
            for name in ("plan_log_pole", "plan_beta", "plan_readout"):
                delattr(layer, name)
            del layer._plan_projections
            layer._pinned_key, layer._exported = None, False

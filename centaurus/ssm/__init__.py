"""The mathematics of the Centaurus SSM layer as pure functions on tensors: no modules, caches or globals."""
from .chunked import ChunkedKernel, chunked_conv, chunked_kernel, toeplitz
from .contraction import ORDERS, ContractionPlan, bottleneck_apply, bottleneck_kernels, choose_contraction
from .discretize import DISCRETIZATIONS, continuous_poles, discretize, phi1
from .fftconv import fft_conv, kernel_spectrum, power_sum_conv, spectrum_conv
from .init import POLE_INITS, geomspace_dt, init_poles, log_uniform_dt, poles_to_A
from .kernel import decayed_sum, power_sum, power_sum_vjp, powers

__all__ = [
    "ORDERS", "ContractionPlan", "bottleneck_apply", "bottleneck_kernels", "choose_contraction", "DISCRETIZATIONS",
    "continuous_poles", "discretize", "phi1", "fft_conv", "kernel_spectrum", "power_sum_conv",
    "spectrum_conv", "POLE_INITS",
    "geomspace_dt", "init_poles", "log_uniform_dt", "poles_to_A", "decayed_sum", "power_sum", "power_sum_vjp",
    "powers", "ChunkedKernel", "chunked_conv", "chunked_kernel", "toeplitz",
]

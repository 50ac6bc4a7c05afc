"""The one native part: the spectral channel-mixing kernels (centaurus/ssm/_spectral_mix.c), a plain C
library that `centaurus.ssm.spectral_mix` loads with ctypes. Optional: without a C compiler the package
installs anyway and mixes with torch.einsum instead, several times slower on the CPU."""
from setuptools import Extension, setup

setup(ext_modules=[Extension("centaurus.ssm._spectral_mix", ["centaurus/ssm/_spectral_mix.c"],
                             extra_compile_args=["-O3", "-std=gnu11"], optional=True)])

"""Package attributes imported on first use, so that the light paths (the ONNX runtime, `--help`) never
import torch, which alone takes about 600 MB of memory."""
import functools
import importlib
import sys


def lazy_exports(package: str, exports: dict[str, str]):
    """Module-level `__getattr__` and `__dir__` for `package`: each name in `exports` comes from the submodule
    it maps to (relative to `package`), imported the first time the name is used; `dir()` lists them all."""

    def __getattr__(name: str):
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(exports[name], package), name)
        setattr(sys.modules[package], name, value)
        return value

    def __dir__():
        return sorted(set(vars(sys.modules[package])) | set(exports))

    return __getattr__, __dir__


def compile_disabled(fn):
    """`torch.compiler.disable(fn)`, put off until torch.compile has loaded `torch._dynamo`: the decorator
    itself imports it, which costs every torch process 1 s and 125 MB, and only compiled code needs it."""
    disabled = None

    @functools.wraps(fn)
    def call(*args, **kwargs):
        nonlocal disabled
        if "torch._dynamo" not in sys.modules:
            return fn(*args, **kwargs)
        if disabled is None:
            import torch
            disabled = torch.compiler.disable(fn)
        return disabled(*args, **kwargs)

    return call

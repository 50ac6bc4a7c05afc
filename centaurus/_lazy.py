"""Package attributes imported on first use, so that the light paths (the ONNX runtime, `--help`) never
import torch, which alone takes about 600 MB of memory."""
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

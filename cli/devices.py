"""The device an inference command runs its torch engine on."""


def torch_device(name: str):
    """`name` resolved (auto: CUDA where there is one). On the CPU one thread, as the onnx engine: a chunk's tiny
    ops gain nothing from a second thread, and stall for a time slice each on a core another process keeps busy."""
    from centaurus.streaming.folders import one_thread_each
    from centaurus.training import resolve_device
    device = resolve_device(name)
    if device.type == "cpu":
        one_thread_each()
    return device

"""Pools of real and synthetic speech and noise, each a folder of 16 kHz clips with a `manifest.jsonl`."""
from centaurus.data.pools.manifest import KINDS, MANIFEST, PoolClip, read_manifest, write_manifest

__all__ = ["KINDS", "MANIFEST", "PoolClip", "read_manifest", "write_manifest"]

"""Typed errors. Library code raises these; only the CLI turns them into one-line messages and exit codes."""


class CentaurusError(Exception):
    """Base class for every error that the CLI reports as a single line."""


class AudioError(CentaurusError):
    """An audio file is missing, unreadable, empty, corrupt or holds non-finite samples."""


class DatasetError(CentaurusError):
    """A dataset root is missing or does not have the expected layout."""


class CheckpointError(CentaurusError):
    """A checkpoint is missing, unsafe or inconsistent with its config."""


class RecipeError(CentaurusError):
    """A recipe has an unknown key, a missing field or a value of the wrong type."""


class DeviceError(CentaurusError):
    """An audio device is missing, cannot record in a usable format, or stopped delivering audio."""

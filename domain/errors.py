"""Errors that carry a one-line, user-facing message naming the culprit."""


class ReidkitError(Exception):
    """Base of every error reidkit reports to a user as one line (exit code 2 at the CLI)."""


class DatasetError(ReidkitError):
    """A dataset folder, file name or split is unusable."""


class ImageLoadError(ReidkitError):
    """An image file cannot be decoded."""


class CheckpointError(ReidkitError):
    """A checkpoint is missing, corrupt or not one of ours."""


class ProfileError(ReidkitError):
    """A profile is invalid; the message lists every problem with its path, one per line."""


class PseudoLabelError(ReidkitError):
    """This epoch's pseudo labels cannot feed training (too few clusters for the batch shape...)."""

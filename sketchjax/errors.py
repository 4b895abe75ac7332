"""The one exception type for user mistakes; the CLIs turn it into a message and exit 2."""


class SketchjaxError(ValueError):
    """A user-facing error: bad flag, unknown name, mask that does not fit, missing data."""

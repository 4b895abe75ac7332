"""The one exception type for user mistakes; the CLIs turn it into a message and exit 2."""


class SketchjaxError(ValueError):
    """A user-facing error: bad flag, unknown name, mask that does not fit, missing data."""


def check_choice(value, valid, what: str) -> None:
    """Raise SketchjaxError naming the valid values when `value` is not one of them."""
    if value not in valid:
        raise SketchjaxError(f"unknown {what} {value!r}; valid: {', '.join(map(str, valid))}")

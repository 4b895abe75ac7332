"""The one exception type for user mistakes; the CLIs turn it into a message and exit 2."""
import numbers


class SketchjaxError(ValueError):
    """A user-facing error: bad flag, unknown name, mask that does not fit, missing data."""


def check_int(value, what: str, minimum: int) -> int:
    """`value` as an int, or SketchjaxError unless it is an int (not a bool) >= minimum."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise SketchjaxError(f"{what} must be an int >= {minimum}, got {value!r}")
    return int(value)


def check_choice(value, valid, what: str) -> None:
    """Raise SketchjaxError naming the valid values when `value` is not one of them."""
    if value not in valid:
        raise SketchjaxError(f"unknown {what} {value!r}; valid: {', '.join(map(str, valid))}")

"""django-ratelimit counts in fixed windows whose edges depend on the client key. Tests that
send many requests pick a client IP (or wait) so that no window edge falls inside the test."""

import time

from django_ratelimit.core import _get_window


def seconds_left_in_window(ip: str, period: int) -> float:
    return _get_window(ip, period) - time.time()


def ip_with_fresh_window(
    min_seconds_left: float = 20, *, min_hour_seconds_left: float | None = None
) -> str:
    """A loopback address whose minute and hour windows both have `min_seconds_left` to run
    (the hour window `min_hour_seconds_left`, when a test reads how long it has left)."""
    minimum = {60: min_seconds_left, 3600: max(min_seconds_left, min_hour_seconds_left or 0)}
    for last_octet in range(2, 255):
        ip = f"127.0.0.{last_octet}"
        if all(seconds_left_in_window(ip, p) > left for p, left in minimum.items()):
            return ip
    raise RuntimeError("no loopback address with a fresh rate-limit window")


def wait_for_fresh_window(ip: str, min_seconds_left: float = 20) -> None:
    left = seconds_left_in_window(ip, 60)
    if left <= min_seconds_left:
        # The window's last whole second still counts into it: sleep past that second too.
        time.sleep(left + 1.5)

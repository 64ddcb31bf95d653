"""Log lines carry the id of the request they were written for."""

import logging

import pytest

from landed.logging import RequestIdFilter

pytestmark = pytest.mark.django_db


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.addFilter(RequestIdFilter())
        self.setFormatter(logging.Formatter("%(request_id)s %(message)s"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


def test_log_lines_written_during_a_request_carry_its_id(api):
    capture = _Capture()
    logger = logging.getLogger("landed.accounts")
    logger.addHandler(capture)
    try:
        api.post(
            "/auth/signup",
            {"email": "log@example.com", "password": "a-long-and-unusual-passphrase"},
            format="json",
            HTTP_X_REQUEST_ID="trace-me-123",
        )
    finally:
        logger.removeHandler(capture)

    assert any(line.startswith("trace-me-123 accounts.signup") for line in capture.lines), (
        capture.lines
    )


def test_outside_a_request_the_id_is_a_dash():
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "msg", None, None)
    RequestIdFilter().filter(record)
    assert record.request_id == "-"

"""Date and time formats of the rendered pages (the admin): unambiguous and to the second, as
an operator compares them with logs and API responses. The API itself writes ISO 8601."""

DATETIME_FORMAT = "Y-m-d H:i:s"
SHORT_DATETIME_FORMAT = "Y-m-d H:i:s"
DATE_FORMAT = "Y-m-d"
SHORT_DATE_FORMAT = "Y-m-d"
TIME_FORMAT = "H:i:s"

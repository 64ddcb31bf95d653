"""What the SQL database sources (MySQL/MariaDB and PostgreSQL) share: reading in a stable
order and resuming after the last row delivered (`keyset`), the shape of a live catalog's
relations (`catalog`), the checks of a read plan and the conforming of driver batches
(`read_plan`), settings parsing (`settings`) and the reporting of a connection test (`check`).

Each database keeps what is its own (driver, SQL dialect, type mapping, error codes) in its
package; what is here is the same, to the letter, for both.
"""
